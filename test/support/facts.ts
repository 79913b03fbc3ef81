/** ImageFacts for tests: a clean single-platform linux/amd64 OCI image, with overrides. */
import type {ImageRef} from '../../shared/image_ref';
import type {ImageFacts} from '../../shared/image_facts';

/** The facts of a streamable image at `ref` whose manifest has `digest`; `over` replaces fields. */
export function imageFacts(
  ref: ImageRef,
  digest: string,
  over: Partial<ImageFacts> = {},
): ImageFacts {
  return {
    source: {kind: 'registry', ref},
    ref,
    digest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    wantedPlatform: 'linux/amd64',
    platform: 'linux/amd64',
    platformDigest: digest,
    platformMediaType: 'application/vnd.oci.image.manifest.v1+json',
    platformMatched: true,
    availablePlatforms: [],
    schema1: false,
    containerImage: true,
    layers: [],
    ...over,
  };
}
