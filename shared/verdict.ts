/**
 * The streaming verdict: whether Batch can stream an image for a job, and if not, why, in words
 * a person can act on. Pure: it reads facts fetched elsewhere. The rules are Google's
 * (https://cloud.google.com/batch/docs/use-image-streaming#limitations).
 */
import {formatImageRef, formatImageSource, imageName} from './image_ref';
import {layerCompression} from './registry/media_types';
import {STREAMING_CONTAINER_FIELDS, unstreamableFields} from './containers';
import {isMultiRegion, locationContains} from './locations';
import {
  isEmptyLayer,
  type ImageFacts,
  type JobFacts,
  type LayerFacts,
} from './image_facts';

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

/** One reason, with a sentence that says what is wrong and what to do. */
export interface Reason {
  readonly code: ReasonCode;
  readonly message: string;
}

/** Something the verdict could not settle, or a question asked that it did not answer. */
export const WARNING_CODES = [
  /** A layer small enough to be empty could not be opened: its emptiness is unknown. */
  'LAYER_UNREAD',
  /** A region was given for an image on disk, which has no location to compare. */
  'REGION_NOT_CHECKED',
] as const;
/** One of {@link WARNING_CODES}. */
export type WarningCode = (typeof WARNING_CODES)[number];

/** A warning, with a sentence that says what is unknown and what to do. */
export interface Warning {
  readonly code: WarningCode;
  readonly message: string;
}

/** Streamable when there is no reason against it; warnings say what the verdict could not see. */
export interface Verdict {
  readonly streamable: boolean;
  readonly reasons: readonly Reason[];
  /** Always set by {@link streamingVerdict}; optional so that a bare verdict still type-checks. */
  readonly warnings?: readonly Warning[];
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
  const warnings: Warning[] = [
    ...regionWarnings(facts, job.region),
    ...layerWarnings(facts),
  ];
  return {streamable: reasons.length === 0, reasons, warnings};
}

/**
 * How reasons name the manifest judged: an index's child by its platform and digest, with the
 * index it came from, or the manifest itself.
 */
export function judgedManifest(facts: ImageFacts): string {
  const judged = facts.platformDigest ?? facts.digest;
  if (judged === facts.digest) return `manifest ${judged}`;
  const platform = facts.platform ? `${facts.platform} ` : '';
  return `the ${platform}image ${judged} of index ${facts.digest}`;
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
      message: `${name} is stored in ${where} but the job runs in ${region}; Batch streams only when the job's VMs run in the image's location (the same region, or a region inside its multi-region). Run the job in ${isMultiRegion(location) ? `a region of ${location}` : location}, or push the image to a repository in ${region}.`,
    },
  ];
}

function regionWarnings(
  facts: ImageFacts,
  region: string | undefined,
): Warning[] {
  if (facts.ref || region === undefined) return [];
  return [
    {
      code: 'REGION_NOT_CHECKED',
      message: `The region ${region} was not compared with the image's location: an image in an OCI layout on disk has no location until it is pushed. Push it to a ${region}-docker.pkg.dev repository and check it there to know whether a job in ${region} can stream it.`,
    },
  ];
}

function imageReasons(facts: ImageFacts): Reason[] {
  // A manifest that is not an image is that, whatever platform it claims (attestations claim
  // unknown/unknown).
  if (!facts.containerImage && (facts.platformMatched || facts.platformDigest))
    return [notAnImageReason(facts)];
  if (!facts.platformMatched) return [noPlatformReason(facts)];
  const layers = [...emptyLayerReasons(facts), ...duplicateLayerReasons(facts)];
  return facts.schema1 ? [schema1Reason(facts), ...layers] : layers;
}

function noPlatformReason(facts: ImageFacts): Reason {
  const wanted = facts.wantedPlatform;
  const offered = facts.availablePlatforms;
  let message: string;
  if (offered.length > 0 || facts.platformDigest === undefined) {
    // An index, and none of its images is for the platform.
    const offers = offered.length
      ? `it offers ${offered.join(', ')}`
      : 'it offers no image with a platform';
    const ask = offered.length
      ? ` or ask for one of those platforms (--platform ${offered[0]}, or the mapping's platform)`
      : '';
    message = `No image for ${wanted} in index ${facts.digest}: ${offers}. Build and push a ${wanted} image into the index,${ask}.`;
  } else {
    const built = facts.platform ?? 'another platform';
    const ask = facts.platform
      ? ` or ask for ${facts.platform} (--platform ${facts.platform}, or the mapping's platform)`
      : '';
    message = `Manifest ${facts.digest} is built for ${built}, not ${wanted}. Build and push a ${wanted} image,${ask}.`;
  }
  return {code: 'NO_MATCHING_PLATFORM', message};
}

function notAnImageReason(facts: ImageFacts): Reason {
  const judged = facts.platformDigest ?? facts.digest;
  const fromIndex = judged !== facts.digest;
  const who = fromIndex
    ? `${judged} (the ${facts.wantedPlatform} entry of index ${facts.digest})`
    : `Manifest ${judged}`;
  const runOnly = 'Batch can run only container images.';
  let message: string;
  switch (facts.notImage ?? 'artifact') {
    case 'attestation': {
      const a = facts.attestation;
      const statements = a?.predicateTypes.length
        ? `, holding ${a.predicateTypes.join(', ')} statements`
        : '';
      const subject = a?.subject
        ? ` for the ${a.subjectPlatform ? `${a.subjectPlatform} ` : ''}image ${a.subject}`
        : '';
      const instead = a?.subjectPlatform
        ? `Check or run the image it describes instead (--platform ${a.subjectPlatform}${fromIndex ? ' on the index' : ''})${facts.availablePlatforms.length ? `; the index offers ${facts.availablePlatforms.join(', ')}` : ''}.`
        : 'Point the job at the image it describes (a platform of its index), not at the attestation.';
      const claimed = facts.platform ?? (fromIndex ? facts.wantedPlatform : '');
      const platform = claimed.includes('unknown')
        ? ` Its platform, ${claimed}, is none an image runs on.`
        : '';
      message = `${who} is a build attestation${subject} (an in-toto manifest, vnd.docker.reference.type: attestation-manifest${statements}), not a container image.${platform} ${runOnly} ${instead}`;
      break;
    }
    case 'no-layers':
      message = `${who} has no layers: it holds no filesystem, so a container has nothing to run (and Batch nothing to stream). Build it on a base image or add its files (for example \`umoci repack\` after filling the bundle's rootfs, or \`buildah add\` before \`buildah commit\`), and push it again.`;
      break;
    case 'artifact':
      message = `${who} is not a container image but an artifact (${facts.artifactType ?? 'no image config'}), such as an SBOM, signature or chart stored beside images; ${runOnly} Point the job at a container image${fromIndex ? `, or ask for a platform of the index that holds one${facts.availablePlatforms.length ? ` (${facts.availablePlatforms.join(', ')})` : ''}` : ''}.`;
      break;
  }
  return {code: 'NOT_A_CONTAINER_IMAGE', message};
}

function schema1Reason(facts: ImageFacts): Reason {
  const mediaType = facts.platformMediaType ?? facts.mediaType;
  const {from, to} = copyReferences(facts);
  const dropped = facts.schema1Throwaway
    ? ` The conversion drops its ${facts.schema1Throwaway} throwaway layer${facts.schema1Throwaway === 1 ? '' : 's'} (history marked throwaway).`
    : '';
  const blocking =
    facts.layers.some(isEmptyLayer) || hasDuplicates(facts.layers);
  const after = blocking
    ? ' The layer problems listed with this one stay after the conversion: fix them too.'
    : '';
  return {
    code: 'SCHEMA1_MANIFEST',
    message: `${capitalize(judgedManifest(facts))} is Docker v2 schema 1 (${mediaType}), which Batch image streaming does not support. Convert it to schema 2 and push it again: \`skopeo copy --format v2s2 ${from} ${to}\` (\`crane copy\` keeps schema 1 as it is).${dropped}${after}`,
  };
}

/** Source and destination of the `skopeo copy` that converts the image in place. */
function copyReferences(facts: ImageFacts): {from: string; to: string} {
  if (!facts.ref) {
    const src = formatImageSource(facts.source);
    return {from: src, to: src};
  }
  const name = imageName(facts.ref);
  const tag = facts.ref.tag ?? 'TAG';
  return {
    from: `docker://${formatImageRef(facts.ref)}`,
    to: `docker://${name}:${tag}`,
  };
}

function layerName(layer: LayerFacts, count: number): string {
  return `Layer ${layer.index + 1} of ${count} (${layer.digest})`;
}

/** The words that place a layer: in the manifest judged, or in the schema 2 image it converts to. */
function layerPlace(facts: ImageFacts, layer: LayerFacts): string {
  const name = layerName(layer, facts.layers.length);
  return facts.schema1
    ? `${name} of ${judgedManifest(facts)}, after conversion to schema 2,`
    : `${name} of ${judgedManifest(facts)}`;
}

function emptyLayerReasons(facts: ImageFacts): Reason[] {
  return facts.layers.filter(isEmptyLayer).map(layer => ({
    code: 'EMPTY_LAYER',
    message: `${layerPlace(facts, layer)} is empty: its tar holds no files. Batch image streaming rejects images with empty layers; rebuild without the step that adds nothing (often a WORKDIR, or a RUN or COPY that changes no file; with buildah, a commit after only \`buildah config\`), or squash the image (\`buildah commit --squash\`, \`docker build --squash\`).`,
  }));
}

function hasDuplicates(layers: readonly LayerFacts[]): boolean {
  const seen = new Set<string>();
  for (const l of layers) {
    const keys = [l.digest, ...(l.diffId ? [`diff:${l.diffId}`] : [])];
    if (keys.some(k => seen.has(k))) return true;
    keys.forEach(k => seen.add(k));
  }
  return false;
}

/** "gzip-compressed", "zstd-compressed", "uncompressed", or the media type when it says neither. */
function storedAs(layer: LayerFacts): string {
  const c = layerCompression(layer.mediaType);
  if (c === 'uncompressed') return 'uncompressed';
  return c ? `${c}-compressed` : `stored as ${layer.mediaType}`;
}

function duplicateLayerReasons(facts: ImageFacts): Reason[] {
  const reasons: Reason[] = [];
  const byDigest = new Map<string, LayerFacts>();
  const byDiffId = new Map<string, LayerFacts>();
  const fix =
    'Batch image streaming rejects duplicate layers; rebuild so that the step adding the same files again is dropped or merged.';
  for (const layer of facts.layers) {
    const sameBlob = byDigest.get(layer.digest);
    const sameContent =
      layer.diffId !== undefined ? byDiffId.get(layer.diffId) : undefined;
    if (sameBlob) {
      reasons.push({
        code: 'DUPLICATE_LAYER',
        message: `${layerPlace(facts, layer)} repeats layer ${sameBlob.index + 1}: the same blob appears twice. ${fix}`,
      });
    } else if (sameContent) {
      const first = storedAs(sameContent);
      const again = storedAs(layer);
      const how =
        first === again
          ? `both ${first}, with different bytes (another compression level or header)`
          : `stored once ${first} and once ${again}`;
      reasons.push({
        code: 'DUPLICATE_LAYER',
        message: `${layerPlace(facts, layer)} has the same uncompressed content (diff_id ${layer.diffId}) as layer ${sameContent.index + 1} (${sameContent.digest}): the same files, ${how}. ${fix}`,
      });
    }
    if (!byDigest.has(layer.digest)) byDigest.set(layer.digest, layer);
    if (layer.diffId !== undefined && !byDiffId.has(layer.diffId))
      byDiffId.set(layer.diffId, layer);
  }
  return reasons;
}

function layerWarnings(facts: ImageFacts): Warning[] {
  if (!facts.containerImage || !facts.platformMatched) return [];
  return facts.layers
    .filter(l => l.unreadable !== undefined && !isEmptyLayer(l))
    .map(layer => ({
      code: 'LAYER_UNREAD',
      message: `${layerPlace(facts, layer)} could not be read: ${layer.unreadable}. Whether it is empty is unknown, and Batch image streaming rejects images with an empty layer; if the step that made it changes no file, drop it.`,
    }));
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
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
