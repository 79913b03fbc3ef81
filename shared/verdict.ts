/**
 * The streaming verdict: whether Batch can stream an image for a job, and if not, why, in words
 * a person can act on. Pure: it reads facts fetched elsewhere. The rules are Google's
 * (https://cloud.google.com/batch/docs/use-image-streaming#limitations).
 */
import {formatImageRef, type ImageRef, type ImageSource} from './image_ref';
import {STREAMING_CONTAINER_FIELDS, unstreamableFields} from './containers';
import {isMultiRegion, locationContains} from './locations';

/** Why an image cannot be streamed (DESIGN.md contract). */
export const REASON_CODES = [
  'NOT_ARTIFACT_REGISTRY',
  'SCHEMA1_MANIFEST',
  'EMPTY_LAYER',
  'DUPLICATE_LAYER',
  'LOCATION_MISMATCH',
  'UNSUPPORTED_CONTAINER_FIELD',
  'NO_MATCHING_PLATFORM',
  'NOT_A_CONTAINER_IMAGE',
] as const;
/** One of {@link REASON_CODES}. */
export type ReasonCode = (typeof REASON_CODES)[number];

/** True for a string in {@link REASON_CODES}. */
export function isReasonCode(s: string): s is ReasonCode {
  return (REASON_CODES as readonly string[]).includes(s);
}

/** One reason, with a sentence that says what is wrong and what to do. */
export interface Reason {
  readonly code: ReasonCode;
  readonly message: string;
}

/** Streamable when there is no reason against it. */
export interface Verdict {
  readonly streamable: boolean;
  readonly reasons: readonly Reason[];
}

/** A layer of the resolved image manifest. */
export interface LayerFacts {
  /** Position in the manifest, from 0 (base layer). */
  readonly index: number;
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  /** The uncompressed digest, from the config's `rootfs.diff_ids`. */
  readonly diffId?: string;
  /** Entries in the layer's tar, when the layer was small enough to open. */
  readonly entries?: number;
  /** Why the layer's contents are unknown, when it was not (or could not be) opened. */
  readonly unopened?: string;
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
  /** Platforms an index offers; empty for a single manifest. */
  readonly availablePlatforms: readonly string[];
  readonly schema1: boolean;
  readonly containerImage: boolean;
  /** For a non-image: the artifact type or config media type that shows it. */
  readonly artifactType?: string;
  readonly layers: readonly LayerFacts[];
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

/** Whether a layer is known to be empty: a known empty digest or diff_id, or a tar with no entries. */
export function isEmptyLayer(layer: LayerFacts): boolean {
  return (
    KNOWN_EMPTY_LAYER_DIGESTS.has(layer.digest) ||
    (layer.diffId !== undefined && KNOWN_EMPTY_DIFF_IDS.has(layer.diffId)) ||
    layer.entries === 0
  );
}

/** Whether Batch can stream the image for the job, with every reason it cannot. */
export function streamingVerdict(
  facts: ImageFacts,
  job: JobFacts = {},
): Verdict {
  const reasons: Reason[] = [
    ...registryReasons(facts, job.region),
    ...imageReasons(facts),
    ...containerReasons(job.containers ?? []),
  ];
  return {streamable: reasons.length === 0, reasons};
}

function registryReasons(
  facts: ImageFacts,
  region: string | undefined,
): Reason[] {
  const ref = facts.ref;
  // An image on disk has no registry yet: only its content is judged.
  if (!ref) return [];
  const name = formatImageRef(ref);
  if (ref.kind === 'container-registry') {
    return [
      {
        code: 'NOT_ARTIFACT_REGISTRY',
        message: `${name} is in Container Registry (${ref.host}); Batch streams images only from Artifact Registry. Push it to a LOCATION-docker.pkg.dev repository in the job's region.`,
      },
    ];
  }
  if (ref.kind !== 'artifact-registry') {
    return [
      {
        code: 'NOT_ARTIFACT_REGISTRY',
        message: `${name} is not in Artifact Registry (it is on ${ref.host}); Batch streams images only from Artifact Registry. Copy it to a LOCATION-docker.pkg.dev repository in the job's region.`,
      },
    ];
  }
  const location = ref.location!;
  if (region === undefined || locationContains(location, region)) return [];
  const where = isMultiRegion(location)
    ? `the multi-region ${location}`
    : location;
  return [
    {
      code: 'LOCATION_MISMATCH',
      message: `The image is stored in ${where} but the job runs in ${region}; Batch streams only when the job's VMs run in the image's location (the same region, or a region inside its multi-region). Run the job in ${isMultiRegion(location) ? `a region of ${location}` : location}, or push the image to a repository in ${region}.`,
    },
  ];
}

function imageReasons(facts: ImageFacts): Reason[] {
  if (!facts.platformMatched) {
    const offered = facts.availablePlatforms.length
      ? `the index offers ${facts.availablePlatforms.join(', ')}`
      : `the image is built for ${facts.platform ?? 'another platform'}`;
    const ask = facts.availablePlatforms.length
      ? 'one of those platforms'
      : (facts.platform ?? 'its platform');
    return [
      {
        code: 'NO_MATCHING_PLATFORM',
        message: `No image for ${facts.wantedPlatform} in ${facts.digest}: ${offered}. Build and push a ${facts.wantedPlatform} image, or ask for ${ask} (--platform, or the mapping's platform).`,
      },
    ];
  }
  if (!facts.containerImage) {
    return [
      {
        code: 'NOT_A_CONTAINER_IMAGE',
        message: `${facts.platformDigest ?? facts.digest} is not a container image but an artifact (${facts.artifactType ?? 'no image config'}); Batch can run only container images. Point the job at a container image.`,
      },
    ];
  }
  if (facts.schema1) {
    return [
      {
        code: 'SCHEMA1_MANIFEST',
        message: `The manifest is Docker v2 schema 1 (${facts.platformMediaType ?? facts.mediaType}), which Batch image streaming does not support. Push it again as schema 2 or OCI, for example with \`skopeo copy --format v2s2\` or \`crane copy\`.`,
      },
    ];
  }
  return [
    ...emptyLayerReasons(facts.layers),
    ...duplicateLayerReasons(facts.layers),
  ];
}

function layerName(layer: LayerFacts, count: number): string {
  return `Layer ${layer.index + 1} of ${count} (${layer.digest})`;
}

function emptyLayerReasons(layers: readonly LayerFacts[]): Reason[] {
  return layers.filter(isEmptyLayer).map(layer => ({
    code: 'EMPTY_LAYER',
    message: `${layerName(layer, layers.length)} is empty: its tar holds no files. Batch image streaming rejects images with empty layers; rebuild without the step that adds nothing (often a WORKDIR, or a RUN or COPY that changes no file), or squash the image.`,
  }));
}

function duplicateLayerReasons(layers: readonly LayerFacts[]): Reason[] {
  const reasons: Reason[] = [];
  const byDigest = new Map<string, LayerFacts>();
  const byDiffId = new Map<string, LayerFacts>();
  for (const layer of layers) {
    const sameBlob = byDigest.get(layer.digest);
    const sameContent =
      layer.diffId !== undefined ? byDiffId.get(layer.diffId) : undefined;
    if (sameBlob) {
      reasons.push({
        code: 'DUPLICATE_LAYER',
        message: `${layerName(layer, layers.length)} repeats layer ${sameBlob.index + 1}: the same blob appears twice. Batch image streaming rejects duplicate layers; rebuild so that the step adding the same files again is dropped or merged.`,
      });
    } else if (sameContent) {
      reasons.push({
        code: 'DUPLICATE_LAYER',
        message: `${layerName(layer, layers.length)} has the same uncompressed content (diff_id ${layer.diffId}) as layer ${sameContent.index + 1} (${sameContent.digest}), compressed differently. Batch image streaming rejects duplicate layers; rebuild so that the step adding the same files again is dropped or merged.`,
      });
    }
    if (!byDigest.has(layer.digest)) byDigest.set(layer.digest, layer);
    if (layer.diffId !== undefined && !byDiffId.has(layer.diffId))
      byDiffId.set(layer.diffId, layer);
  }
  return reasons;
}

function containerReasons(
  containers: readonly Record<string, unknown>[],
): Reason[] {
  return containers.flatMap((container, i) =>
    unstreamableFields(container).map(field => ({
      code: 'UNSUPPORTED_CONTAINER_FIELD' as const,
      message: `Container runnable ${i + 1} sets \`${field}\`; with image streaming Batch accepts only ${STREAMING_CONTAINER_FIELDS.join(', ')}. Remove \`${field}\`, or turn streaming off for this job.`,
    })),
  );
}
