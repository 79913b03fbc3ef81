/**
 * Manifest and config media types a registry may serve. See
 * https://github.com/opencontainers/image-spec/blob/main/media-types.md and
 * https://distribution.github.io/distribution/spec/manifest-v2-2/
 */

export const DOCKER_MANIFEST_V2 =
  'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST =
  'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST_V1 =
  'application/vnd.docker.distribution.manifest.v1+json';
export const DOCKER_MANIFEST_V1_SIGNED =
  'application/vnd.docker.distribution.manifest.v1+prettyjws';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

export const DOCKER_LAYER_GZIP =
  'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

/**
 * The layer media type of an in-toto attestation blob, as BuildKit stores attestations
 * (https://docs.docker.com/build/metadata/attestations/attestation-storage/).
 */
export const IN_TOTO_LAYER = 'application/vnd.in-toto+json';

/** Every manifest media type, in the order sent in `Accept`. */
export const MANIFEST_MEDIA_TYPES = [
  OCI_INDEX,
  DOCKER_MANIFEST_LIST,
  OCI_MANIFEST,
  DOCKER_MANIFEST_V2,
  DOCKER_MANIFEST_V1_SIGNED,
  DOCKER_MANIFEST_V1,
] as const;
/** A manifest media type pushrun understands. */
export type ManifestMediaType = (typeof MANIFEST_MEDIA_TYPES)[number];

/** The `Accept` header for manifest requests: without it registries down-convert to schema 1. */
export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

/** True for a media type in {@link MANIFEST_MEDIA_TYPES}. */
export function isManifestMediaType(t: string): t is ManifestMediaType {
  return (MANIFEST_MEDIA_TYPES as readonly string[]).includes(t);
}

/** True for a manifest list or an OCI index. */
export function isIndexMediaType(t: string): boolean {
  return t === OCI_INDEX || t === DOCKER_MANIFEST_LIST;
}

/** True for Docker v2 schema 1, signed or not. */
export function isSchema1MediaType(t: string): boolean {
  return t === DOCKER_MANIFEST_V1 || t === DOCKER_MANIFEST_V1_SIGNED;
}

/** True for the config of a runnable container image (as opposed to an OCI artifact's). */
export function isImageConfigMediaType(t: string): boolean {
  return t === DOCKER_CONFIG || t === OCI_CONFIG;
}

/** True for layer media types that hold a (possibly compressed) filesystem tar. */
export function isTarLayerMediaType(t: string): boolean {
  return (
    t.startsWith('application/vnd.oci.image.layer.') ||
    t.startsWith('application/vnd.docker.image.rootfs.')
  );
}

/** True for an in-toto statement layer (`application/vnd.in-toto+json` and its variants). */
export function isInTotoMediaType(t: string): boolean {
  return t === IN_TOTO_LAYER || t.startsWith('application/vnd.in-toto.');
}

/** How a layer's tar is stored, by media type: `gzip`, `zstd`, `uncompressed`, or undefined. */
export function layerCompression(
  t: string,
): 'gzip' | 'zstd' | 'uncompressed' | undefined {
  // OCI `…tar+gzip`, Docker `…tar.gzip`; OCI `…tar` and Docker `…rootfs.diff.tar` are plain.
  if (/[+.]gzip$/.test(t)) return 'gzip';
  if (/[+.]zstd$/.test(t)) return 'zstd';
  if (t.endsWith('.tar')) return 'uncompressed';
  return undefined;
}
