/**
 * Build attestations stored beside images, as BuildKit writes them: an index entry with platform
 * `unknown/unknown` and the annotations below, pointing at a manifest whose layers are in-toto
 * statements. It describes an image; it is not one. See
 * https://docs.docker.com/build/metadata/attestations/attestation-storage/
 */
import {isInTotoMediaType, isTarLayerMediaType} from './media_types';
import type {Descriptor, ManifestJson} from './registry';

/** Index-entry annotation that marks an attestation: its value is {@link ATTESTATION_MANIFEST}. */
export const REFERENCE_TYPE_ANNOTATION = 'vnd.docker.reference.type';
/** Index-entry annotation naming the digest of the image an attestation describes. */
export const REFERENCE_DIGEST_ANNOTATION = 'vnd.docker.reference.digest';
/** The value of {@link REFERENCE_TYPE_ANNOTATION} for an attestation manifest. */
export const ATTESTATION_MANIFEST = 'attestation-manifest';
/** Layer annotation naming an in-toto statement's predicate (SPDX, SLSA provenance, …). */
export const PREDICATE_TYPE_ANNOTATION = 'in-toto.io/predicate-type';

/** Whether an index entry is marked as an attestation manifest. */
export function isAttestationEntry(d: Descriptor): boolean {
  return d.annotations?.[REFERENCE_TYPE_ANNOTATION] === ATTESTATION_MANIFEST;
}

/**
 * Whether a manifest is an attestation by its own content: in-toto statement layers and no
 * filesystem layer. This is what tells one apart when it is fetched by digest, without its index.
 */
export function isAttestationManifest(json: ManifestJson): boolean {
  const types = (json.layers ?? []).map(l => l.mediaType);
  return types.some(isInTotoMediaType) && !types.some(isTarLayerMediaType);
}

/** The predicate types of an attestation's statements, in order, each once. */
export function predicateTypes(json: ManifestJson): string[] {
  const types = (json.layers ?? [])
    .map(l => l.annotations?.[PREDICATE_TYPE_ANNOTATION])
    .filter((t): t is string => !!t);
  return [...new Set(types)];
}
