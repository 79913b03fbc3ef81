/**
 * What is known of an image, as the streaming verdict reads it: its manifest, platform and
 * layers, and the rule that tells an empty layer without opening it where the digests allow.
 */
import {createHash} from 'node:crypto';
import type {ImageRef, ImageSource} from './image_ref';

/** A layer of the resolved image manifest. */
export interface LayerFacts {
  /** Position in the manifest, from 0 (base layer); for schema 1, in the schema 2 image it converts to. */
  readonly index: number;
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  /** The uncompressed digest, from the config's `rootfs.diff_ids`. */
  readonly diffId?: string;
  /** Entries in the layer's tar, when the layer was small enough to open. */
  readonly entries?: number;
  /** Why the layer was not opened: too big to be an empty tar. */
  readonly unopened?: string;
  /** Why a layer small enough to be empty could not be read: its emptiness is unknown. */
  readonly unreadable?: string;
}

/** What shows that a manifest is not a container image. */
export type NotAnImage =
  /** An OCI artifact: an `artifactType`, or a config that is not an image config. */
  | 'artifact'
  /** A build attestation (in-toto statements), such as BuildKit stores beside images. */
  | 'attestation'
  /** An image manifest with no layers: no filesystem, nothing to run. */
  | 'no-layers';

/** What is known of an attestation manifest. */
export interface AttestationFacts {
  /** The digest of the image it describes (`vnd.docker.reference.digest`), when its index says. */
  readonly subject?: string;
  /** That image's platform in the index. */
  readonly subjectPlatform?: string;
  /** The predicate types of its statements (`in-toto.io/predicate-type`). */
  readonly predicateTypes: readonly string[];
}

/** What was fetched about an image: everything the verdict reads. */
export interface ImageFacts {
  readonly source: ImageSource;
  /** Registry reference; absent for an OCI layout on disk. */
  readonly ref?: ImageRef;
  /** Digest of what the reference names (an index for a multi-platform image). */
  readonly digest: string;
  readonly mediaType: string;
  /** The platform asked for, `os/arch[/variant]`. */
  readonly wantedPlatform: string;
  /** The platform of the resolved image manifest, when known. */
  readonly platform?: string;
  /** Digest and media type of the image manifest for the platform (the digest itself when no index). */
  readonly platformDigest?: string;
  readonly platformMediaType?: string;
  readonly platformMatched: boolean;
  /** Platforms an index offers images for (attestations are none); empty for a single manifest. */
  readonly availablePlatforms: readonly string[];
  readonly schema1: boolean;
  readonly containerImage: boolean;
  /** For a non-image: what shows it; absent is read as `artifact`. */
  readonly notImage?: NotAnImage;
  /** For an attestation: what it describes. */
  readonly attestation?: AttestationFacts;
  /** For a non-image: the artifact type or config media type that shows it. */
  readonly artifactType?: string;
  /** The layers; for schema 1, those its conversion to schema 2 keeps (throwaway ones are dropped). */
  readonly layers: readonly LayerFacts[];
  /** Schema 1 only: history entries marked `throwaway`, whose layers a conversion drops. */
  readonly schema1Throwaway?: number;
}

/** The job the image would run in: its region and its container runnables (proto3 JSON). */
export interface JobFacts {
  readonly region?: string;
  readonly containers?: readonly Record<string, unknown>[];
}

/**
 * Digests of empty layers as common tools write them: a fast path before opening blobs.
 * `a3ed95ca…` is distribution's gzipped empty tar (schema 1 "throwaway" layers), `4f4fb700…` the
 * gzipped empty tar BuildKit and containerd write for `WORKDIR` and the like.
 */
export const KNOWN_EMPTY_LAYER_DIGESTS: ReadonlySet<string> = new Set([
  'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4',
  'sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1',
]);

/**
 * diff_ids of empty tars: 1024 zero bytes (the end-of-archive marker alone) and 10240 (the same
 * padded to GNU tar's default record size). Any compression of these is empty too.
 */
export const KNOWN_EMPTY_DIFF_IDS: ReadonlySet<string> = new Set([
  'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef',
  'sha256:84ff92691f909a05b224e1c56abb4864f01b4f8e3c854e4bb4c7baf1d3f6d652',
]);

/**
 * Whether a layer is known to be empty: a known empty digest, a diff_id that is the digest of an
 * all-zero tar (no entries, however it is padded: the end-of-archive marker alone is 1024 zero
 * bytes, and tools pad to 512-byte blocks or 10 KiB records), or an opened tar with no entries.
 * The diff_id test needs no decompression, so it holds for zstd layers on Node.js 20 and for
 * layers too big to fetch.
 */
export function isEmptyLayer(layer: LayerFacts): boolean {
  return (
    KNOWN_EMPTY_LAYER_DIGESTS.has(layer.digest) ||
    (layer.diffId !== undefined && isZeroTarDiffId(layer.diffId)) ||
    layer.entries === 0
  );
}

/** All-zero tars up to this size are recognized by diff_id (GNU tar pads to 10 KiB records). */
export const MAX_ZERO_TAR_BYTES = 64 * 1024;
const TAR_BLOCK = 512;
let zeroTarDiffIds: ReadonlySet<string> | undefined;

/** Whether `diffId` is the sha256 of 0, 512, 1024, … {@link MAX_ZERO_TAR_BYTES} zero bytes. */
export function isZeroTarDiffId(diffId: string): boolean {
  if (KNOWN_EMPTY_DIFF_IDS.has(diffId)) return true;
  if (!diffId.startsWith('sha256:')) return false;
  // Built on first need: one running hash, copied at each block boundary.
  if (!zeroTarDiffIds) {
    const ids = new Set<string>();
    const hash = createHash('sha256');
    const block = Buffer.alloc(TAR_BLOCK);
    for (let n = 0; n <= MAX_ZERO_TAR_BYTES; n += TAR_BLOCK) {
      ids.add(`sha256:${hash.copy().digest('hex')}`);
      hash.update(block);
    }
    zeroTarDiffIds = ids;
  }
  return zeroTarDiffIds.has(diffId);
}
