/**
 * Inspecting an image for the streaming verdict: fetch the manifest (resolving an index to one
 * platform), the config, and the layers small enough to open, then judge.
 */
import {
  formatImageSource,
  parseImageSource,
  type ImageRef,
  type ImageSource,
} from './image_ref';
import {
  isImageConfigMediaType,
  isSchema1MediaType,
} from './registry/media_types';
import {openLayer} from './registry/layer_contents';
import {openOciLayout} from './registry/oci_layout';
import {DEFAULT_PLATFORM, formatPlatform} from './registry/platform';
import {
  referenceOf,
  type ContentStore,
  type FetchedManifest,
  type Registry,
  type ResolvedImage,
} from './registry/registry';
import {resolveImage} from './registry/resolve';
import {
  KNOWN_EMPTY_LAYER_DIGESTS,
  streamingVerdict,
  type ImageFacts,
  type LayerFacts,
  type Reason,
} from './verdict';

/**
 * Compressed layers at most this big are fetched and opened to see whether their tar is empty.
 * An empty tar compresses to a few dozen bytes however it was written; a real layer rarely fits.
 */
export const MAX_OPENED_LAYER_BYTES = 4 * 1024;
/**
 * Uncompressed layers at most this big are opened: an empty tar padded to GNU tar's 10 KiB
 * record size (or twice that) still fits.
 */
export const MAX_OPENED_TAR_BYTES = 20 * 1024;

/** What inspecting needs: the registry (an OCI layout on disk is read directly). */
export interface CheckDeps {
  readonly registry: Registry;
}

/** The `pushrun check --json` output (DESIGN.md contract). */
export interface CheckReport {
  readonly image: string;
  readonly digest: string;
  readonly mediaType: string;
  /** The platform of the manifest judged; null when no index entry matched. */
  readonly platform: string | null;
  readonly streamable: boolean;
  readonly reasons: readonly Reason[];
}

/**
 * Fetches everything the verdict needs about an image. Throws RegistryError when the registry or
 * layout fails; a missing platform or a non-image are facts, not errors.
 */
export async function inspectImage(
  source: ImageSource | ImageRef,
  opts: {platform?: string},
  deps: CheckDeps,
): Promise<ImageFacts> {
  const src: ImageSource =
    'kind' in source && (source.kind === 'registry' || source.kind === 'oci')
      ? (source as ImageSource)
      : {kind: 'registry', ref: source as ImageRef};
  const platform = opts.platform ?? DEFAULT_PLATFORM;
  const layout = src.kind === 'oci' ? await openOciLayout(src.dir) : undefined;
  const store: ContentStore =
    layout ?? deps.registry.store((src as {ref: ImageRef}).ref);
  // Small layers are fetched as soon as the manifest is known, alongside the config.
  let layerFetches: Promise<LayerFacts[]> | undefined;
  const hooks = {
    onManifest: (m: FetchedManifest) => {
      layerFetches = openSmallLayers(m, store);
      // Failures surface when awaited below; this keeps an early one from going unhandled.
      layerFetches.catch(() => {});
    },
  };
  const resolved: ResolvedImage =
    src.kind === 'registry'
      ? await resolveImage(store, referenceOf(src.ref), platform, hooks)
      : await layout!.resolveImage(src.tag, {platform, ...hooks});
  const layers = layerFetches ? await layerFetches : [];
  return factsOf(src, resolved, layers);
}

function factsOf(
  source: ImageSource,
  r: ResolvedImage,
  opened: LayerFacts[],
): ImageFacts {
  const m = r.manifest;
  const schema1 = m !== undefined && isSchema1MediaType(m.mediaType);
  const configType = m?.json.config?.mediaType;
  const artifactType =
    m?.json.artifactType ??
    (configType !== undefined && !isImageConfigMediaType(configType)
      ? configType
      : undefined);
  // With no manifest for the platform, what it would have been is unknown; NO_MATCHING_PLATFORM says so.
  const containerImage =
    m === undefined ||
    schema1 ||
    (artifactType === undefined && configType !== undefined);
  const diffIds = r.config?.rootfs?.diff_ids ?? [];
  return {
    source,
    ...(source.kind === 'registry' && {ref: source.ref}),
    digest: r.digest,
    mediaType: r.mediaType,
    wantedPlatform: formatPlatform(r.wanted),
    ...(r.platform && {platform: formatPlatform(r.platform)}),
    ...(m && {platformDigest: m.digest, platformMediaType: m.mediaType}),
    platformMatched: r.platformMatched,
    availablePlatforms: r.availablePlatforms,
    schema1,
    containerImage,
    ...(artifactType !== undefined && {artifactType}),
    layers:
      m && containerImage && !schema1
        ? opened.map(l =>
            diffIds[l.index] ? {...l, diffId: diffIds[l.index]} : l,
          )
        : [],
  };
}

/** The manifest's layers, with the small ones opened to count their tar entries. */
async function openSmallLayers(
  m: FetchedManifest,
  store: ContentStore,
): Promise<LayerFacts[]> {
  const configType = m.json.config?.mediaType;
  // Artifacts and schema 1 are judged without looking inside their blobs.
  if (m.json.artifactType || !configType || !isImageConfigMediaType(configType))
    return [];
  return Promise.all(
    (m.json.layers ?? []).map(async (d, index): Promise<LayerFacts> => {
      const layer = {
        index,
        digest: d.digest,
        size: d.size,
        mediaType: d.mediaType,
      };
      if (KNOWN_EMPTY_LAYER_DIGESTS.has(d.digest)) return layer;
      const limit = isUncompressed(d.mediaType)
        ? MAX_OPENED_TAR_BYTES
        : MAX_OPENED_LAYER_BYTES;
      if (d.size > limit) {
        return {
          ...layer,
          unopened: `larger than the ${limit} bytes opened to look for empty tars`,
        };
      }
      const contents = await openLayer(
        await store.blob(d.digest, {maxBytes: limit}),
      );
      return 'entries' in contents
        ? {...layer, entries: contents.entries}
        : {...layer, unopened: contents.unreadable};
    }),
  );
}

function isUncompressed(mediaType: string): boolean {
  // OCI `…layer.v1.tar` and Docker `…rootfs.diff.tar`; compressed types end in +gzip or +zstd.
  return mediaType.endsWith('.tar');
}

/** Parses IMAGE, inspects it, and judges it for a job in `region`: the `pushrun check` report. */
export async function checkImage(
  text: string,
  opts: {platform?: string; region?: string},
  deps: CheckDeps,
): Promise<CheckReport> {
  const source = parseImageSource(text);
  const facts = await inspectImage(
    source,
    {...(opts.platform && {platform: opts.platform})},
    deps,
  );
  const verdict = streamingVerdict(facts, {
    ...(opts.region && {region: opts.region}),
  });
  return {
    image: formatImageSource(source),
    digest: facts.digest,
    mediaType: facts.mediaType,
    platform: facts.platformMatched
      ? (facts.platform ?? facts.wantedPlatform)
      : null,
    streamable: verdict.streamable,
    reasons: verdict.reasons.map(r => ({code: r.code, message: r.message})),
  };
}
