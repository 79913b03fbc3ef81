/** Turns manifest bytes into a FetchedManifest: media type, digest (checked) and JSON. */
import {createHash} from 'node:crypto';
import {
  DOCKER_MANIFEST_V1,
  DOCKER_MANIFEST_V1_SIGNED,
  OCI_INDEX,
  OCI_MANIFEST,
  isManifestMediaType,
  isSchema1MediaType,
} from './media_types';
import {
  RegistryError,
  type FetchedManifest,
  type ManifestJson,
} from './registry';

/** `sha256:<hex>` of the bytes. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Whether `bytes` hash to `digest`; only sha256 is checked, other algorithms pass. */
export function digestMatches(bytes: Uint8Array, digest: string): boolean {
  return !digest.startsWith('sha256:') || sha256Digest(bytes) === digest;
}

/**
 * Parses manifest bytes. The media type is the served Content-Type when it is a manifest type,
 * else the JSON's own `mediaType`, else guessed from the shape. When `digest` (what was asked
 * for) is given, the bytes must hash to it; signed schema 1 is exempt, its digest covers the
 * payload without signatures, so the registry's `Docker-Content-Digest` is taken instead.
 */
export function parseManifest(
  bytes: Buffer,
  hint: {
    contentType?: string | null;
    digest?: string;
    headerDigest?: string | null;
  },
  what: string,
): FetchedManifest {
  let json: ManifestJson;
  try {
    json = JSON.parse(bytes.toString('utf8')) as ManifestJson;
  } catch (e) {
    throw new RegistryError(`${what} is not JSON`, undefined, false, {
      cause: e,
    });
  }
  if (typeof json !== 'object' || json === null) {
    throw new RegistryError(`${what} is not a JSON object`, undefined, false);
  }
  const served = hint.contentType?.split(';')[0].trim() ?? '';
  const mediaType = isManifestMediaType(served)
    ? served
    : (json.mediaType ?? guessMediaType(json));
  const computed = sha256Digest(bytes);
  let digest = computed;
  if (isSchema1MediaType(mediaType)) {
    digest = hint.digest ?? hint.headerDigest ?? computed;
  } else if (hint.digest && !digestMatches(bytes, hint.digest)) {
    throw new RegistryError(
      `${what}: the registry served content whose digest is ${computed}, not ${hint.digest}`,
      undefined,
      false,
    );
  } else if (hint.digest) {
    digest = hint.digest;
  }
  return {digest, mediaType, size: bytes.length, json};
}

function guessMediaType(json: ManifestJson): string {
  if (json.schemaVersion === 1) {
    return 'signatures' in json
      ? DOCKER_MANIFEST_V1_SIGNED
      : DOCKER_MANIFEST_V1;
  }
  if (Array.isArray(json.manifests)) return OCI_INDEX;
  return OCI_MANIFEST;
}

/** The layers of a schema 1 manifest as schema 2 orders them, and the throwaway ones apart. */
export interface Schema1Layers {
  /** Base layer first: the blobs a conversion to schema 2 keeps. */
  readonly kept: readonly string[];
  /** History entries marked `throwaway`: a conversion drops their layers. */
  readonly throwaway: number;
}

/**
 * Reads `fsLayers` (top layer first) and the `history` entry beside each; an entry whose
 * `v1Compatibility` JSON says `"throwaway": true` adds no files, and converters to schema 2 (skopeo,
 * containers/image) leave its layer out. See
 * https://distribution.github.io/distribution/spec/deprecated-schema-v1/
 */
export function schema1Layers(json: ManifestJson): Schema1Layers {
  const fsLayers = json.fsLayers ?? [];
  const kept: string[] = [];
  let throwaway = 0;
  fsLayers.forEach((layer, i) => {
    if (isThrowaway(json.history?.[i]?.v1Compatibility)) throwaway++;
    else kept.push(layer.blobSum);
  });
  return {kept: kept.reverse(), throwaway};
}

function isThrowaway(v1Compatibility: string | undefined): boolean {
  if (!v1Compatibility) return false;
  try {
    return (
      (JSON.parse(v1Compatibility) as {throwaway?: unknown}).throwaway === true
    );
  } catch {
    return false;
  }
}
