/**
 * The bytes of demo images: tars (tar-stream), gzip with a fixed mtime, zstd frames, image
 * configs whose diff_ids match their layers, manifests and indexes.
 */
import {createHash} from 'node:crypto';
import {gzipSync} from 'node:zlib';
import {pack} from 'tar-stream';
import {
  DOCKER_MANIFEST_V2,
  DOCKER_MANIFEST_LIST,
  DOCKER_CONFIG,
  DOCKER_LAYER_GZIP,
  OCI_MANIFEST,
  OCI_INDEX,
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  IN_TOTO_LAYER,
} from '../shared/registry/media_types';

/** A blob to upload. */
export interface Blob {
  readonly digest: string;
  readonly bytes: Buffer;
}

/** A built image: its manifest, its blobs, and (for an index) its child images. */
export interface BuiltImage {
  readonly mediaType: string;
  readonly manifest: Buffer;
  readonly digest: string;
  readonly blobs: readonly Blob[];
  readonly children: readonly BuiltImage[];
}

/** distribution's gzipped empty tar: the well-known empty layer `sha256:a3ed95ca…`. */
export const KNOWN_EMPTY_GZIP = Buffer.from([
  31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20, 140, 88, 0, 8,
  0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0,
]);

/** `sha256:<hex>`. */
export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A deterministic tar of `files` (mtime 0), built with tar-stream. */
export async function makeTar(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) {
    p.entry({name, mtime: new Date(0), mode: 0o644}, content);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** gzip with a chosen header mtime, so the same tar gets a different digest. */
export function gzipWithMtime(tar: Buffer, mtime: number, level = 6): Buffer {
  const gz = Buffer.from(gzipSync(tar, {level}));
  gz.writeUInt32LE(mtime, 4); // MTIME; the trailer's CRC covers only the data.
  return gz;
}

/**
 * One zstd frame holding `data` in raw blocks (RFC 8878 §3.1.1.2): valid zstd that every decoder
 * reads, written without a compressor, so tests make zstd layers on Node.js 20 too.
 */
export function zstdRawFrame(data: Buffer): Buffer {
  const MAX_BLOCK = 128 * 1024;
  // Frame_Header_Descriptor 0xa0: 4-byte content size, single segment, no checksum or dictionary.
  const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 0, 0]);
  header.writeUInt32LE(data.length, 5);
  const blocks: Buffer[] = [];
  let at = 0;
  do {
    const chunk = data.subarray(at, at + MAX_BLOCK);
    at += chunk.length;
    const last = at >= data.length ? 1 : 0;
    const blockHeader = Buffer.alloc(3);
    blockHeader.writeUIntLE((chunk.length << 3) | last, 0, 3); // type 0: raw
    blocks.push(blockHeader, chunk);
  } while (at < data.length);
  return Buffer.concat([header, ...blocks]);
}

/** A zstd skippable frame (RFC 8878 §3.1.2) of `size` zero bytes: padding a decoder skips. */
export function zstdSkippableFrame(size: number): Buffer {
  const frame = Buffer.alloc(8 + size);
  frame.writeUInt32LE(0x184d2a50, 0);
  frame.writeUInt32LE(size, 4);
  return frame;
}

/** A built layer: its compressed bytes, media type and diff_id. */
export interface Layer {
  readonly bytes: Buffer;
  readonly diffId: string;
  readonly mediaType?: string;
}

export async function gzLayer(
  files: Record<string, string>,
  mtime = 0,
): Promise<Layer> {
  const tar = await makeTar(files);
  return {bytes: gzipWithMtime(tar, mtime), diffId: sha256(tar)};
}

export function imageOf(
  layers: readonly Layer[],
  opts: {
    oci?: boolean;
    architecture?: string;
    variant?: string;
    /** Leave `rootfs.diff_ids` empty, as a hand-made config might: layers must be opened. */
    noDiffIds?: boolean;
  } = {},
): BuiltImage {
  const oci = opts.oci ?? false;
  const config = Buffer.from(
    JSON.stringify({
      architecture: opts.architecture ?? 'amd64',
      ...(opts.variant && {variant: opts.variant}),
      os: 'linux',
      config: {Cmd: ['/bin/app']},
      rootfs: {
        type: 'layers',
        diff_ids: opts.noDiffIds ? [] : layers.map(l => l.diffId),
      },
    }),
  );
  const layerMediaType = oci ? OCI_LAYER_GZIP : DOCKER_LAYER_GZIP;
  const manifest = {
    schemaVersion: 2,
    mediaType: oci ? OCI_MANIFEST : DOCKER_MANIFEST_V2,
    config: {
      mediaType: oci ? OCI_CONFIG : DOCKER_CONFIG,
      digest: sha256(config),
      size: config.length,
    },
    layers: layers.map(l => ({
      mediaType: l.mediaType ?? layerMediaType,
      digest: sha256(l.bytes),
      size: l.bytes.length,
    })),
  };
  return built(manifest.mediaType, manifest, [
    config,
    ...layers.map(l => l.bytes),
  ]);
}

export function built(
  mediaType: string,
  json: unknown,
  blobs: Buffer[],
  children: BuiltImage[] = [],
): BuiltImage {
  const manifest = Buffer.from(JSON.stringify(json, null, 2));
  const unique = new Map(blobs.map(b => [sha256(b), b]));
  return {
    mediaType,
    manifest,
    digest: sha256(manifest),
    blobs: [...unique].map(([digest, bytes]) => ({digest, bytes})),
    children,
  };
}

/** An image of an index, with the platform its entry names. */
/** One child of a built index. */
export interface IndexChild {
  readonly image: BuiltImage;
  readonly architecture: string;
  readonly variant?: string;
}

/** The index entry of a linux image: its descriptor and platform. */
export function indexEntry(c: IndexChild): unknown {
  return {
    mediaType: c.image.mediaType,
    digest: c.image.digest,
    size: c.image.manifest.length,
    platform: {
      architecture: c.architecture,
      os: 'linux',
      ...(c.variant && {variant: c.variant}),
    },
  };
}

export function indexOf(mediaType: string, children: IndexChild[]): BuiltImage {
  const json = {
    schemaVersion: 2,
    mediaType,
    manifests: children.map(indexEntry),
  };
  return built(
    mediaType,
    json,
    [],
    children.map(c => c.image),
  );
}

/**
 * An OCI index as BuildKit pushes one with `--attest type=sbom --attest type=provenance`: each
 * image has an attestation manifest beside it, with platform `unknown/unknown`, the annotations
 * `vnd.docker.reference.type: attestation-manifest` and `vnd.docker.reference.digest`, an image
 * config "for compatibility only", and one in-toto statement layer per predicate. See
 * https://docs.docker.com/build/metadata/attestations/attestation-storage/
 */
export function buildAttestedIndex(children: IndexChild[]): BuiltImage {
  const entries = children.map(indexEntry);
  const members = children.map(c => c.image);
  for (const c of children) {
    const att = attestationManifest(c.image.digest);
    entries.push({
      mediaType: OCI_MANIFEST,
      digest: att.digest,
      size: att.manifest.length,
      annotations: {
        'vnd.docker.reference.digest': c.image.digest,
        'vnd.docker.reference.type': 'attestation-manifest',
      },
      platform: {architecture: 'unknown', os: 'unknown'},
    });
    members.push(att);
  }
  return built(
    OCI_INDEX,
    {schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries},
    [],
    members,
  );
}

/** BuildKit's attestation manifest for the image `subject`: an SPDX SBOM and SLSA provenance. */
function attestationManifest(subject: string): BuiltImage {
  const statement = (predicateType: string, predicate: unknown) =>
    Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v0.1',
        predicateType,
        subject: [
          {
            name: 'pkg:docker/acme/demo/app@v1',
            digest: {sha256: subject.slice('sha256:'.length)},
          },
        ],
        predicate,
      }),
    );
  const layers = [
    {
      type: 'https://spdx.dev/Document',
      bytes: statement('https://spdx.dev/Document', {
        spdxVersion: 'SPDX-2.3',
        name: 'sbom',
        packages: [],
      }),
    },
    {
      type: 'https://slsa.dev/provenance/v0.2',
      bytes: statement('https://slsa.dev/provenance/v0.2', {
        builder: {id: ''},
        buildType: 'https://mobyproject.org/buildkit@v1',
      }),
    },
  ];
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'unknown',
      os: 'unknown',
      config: {},
      rootfs: {type: 'layers', diff_ids: layers.map(l => sha256(l.bytes))},
    }),
  );
  const json = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: OCI_CONFIG,
      digest: sha256(config),
      size: config.length,
    },
    layers: layers.map(l => ({
      mediaType: IN_TOTO_LAYER,
      digest: sha256(l.bytes),
      size: l.bytes.length,
      annotations: {'in-toto.io/predicate-type': l.type},
    })),
  };
  return built(OCI_MANIFEST, json, [config, ...layers.map(l => l.bytes)]);
}

/**
 * Builds an image from one `{path: content}` map per layer (gzipped, deterministic), for shapes
 * the named specs do not cover, such as layers too big to open.
 */
export async function buildLayeredImage(
  layers: readonly Record<string, string>[],
  opts: {oci?: boolean; architecture?: string} = {},
): Promise<BuiltImage> {
  return imageOf(await Promise.all(layers.map(files => gzLayer(files))), opts);
}

/** A manifest list (or OCI index with `oci`) over built images, one per platform. */
export function buildIndexImage(
  children: IndexChild[],
  opts: {oci?: boolean} = {},
): BuiltImage {
  return indexOf(opts.oci ? OCI_INDEX : DOCKER_MANIFEST_LIST, children);
}
