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
import {assertRegion} from './locations';
import {
  REFERENCE_DIGEST_ANNOTATION,
  isAttestationEntry,
  isAttestationManifest,
  predicateTypes,
} from './registry/attestation';
import {openLayer} from './registry/layer_contents';
import {schema1Layers} from './registry/manifest';
import {
  DOCKER_LAYER_GZIP,
  IN_TOTO_LAYER,
  isImageConfigMediaType,
  isSchema1MediaType,
  layerCompression,
} from './registry/media_types';
import {openOciLayout} from './registry/oci_layout';
import {
  DEFAULT_PLATFORM,
  formatPlatform,
  normalizePlatform,
} from './registry/platform';
import {
  BlobTooLargeError,
  referenceOf,
  type ContentStore,
  type Descriptor,
  type FetchedManifest,
  type Registry,
  type ResolvedImage,
} from './registry/registry';
import {resolveImage} from './registry/resolve';
import {streamingVerdict, type Reason, type Warning} from './verdict';
import {
  KNOWN_EMPTY_LAYER_DIGESTS,
  type AttestationFacts,
  type ImageFacts,
  type LayerFacts,
  type NotAnImage,
} from './image_facts';

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

/** The `pushrun check --json` output (DESIGN.md contract; fields after `reasons` are additions). */
export interface CheckReport {
  readonly image: string;
  readonly digest: string;
  readonly mediaType: string;
  /** The platform of the image judged; null when no index entry matched, or it is no image. */
  readonly platform: string | null;
  readonly streamable: boolean;
  readonly reasons: readonly Reason[];
  /** The manifest judged: an index's child for the platform, else `digest`; null when none matched. */
  readonly platformDigest: string | null;
  /** What the verdict could not see, such as a layer that could not be opened. */
  readonly warnings: readonly Warning[];
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
  // Schema 1 has no config to tell empty layers by: its small layers are fetched as soon as the
  // manifest is known. Other images are judged by their config's diff_ids, and only a layer
  // that has none is opened, so a push costs two requests: the manifest and the config.
  let layerFetches: Promise<LayerFacts[]> | undefined;
  const hooks = {
    onManifest: (m: FetchedManifest) => {
      if (!isSchema1MediaType(m.mediaType)) return;
      layerFetches = openSmallLayers(m, store, []);
      // Failures surface when awaited below; this keeps an early one from going unhandled.
      layerFetches.catch(() => {});
    },
  };
  const resolved: ResolvedImage =
    src.kind === 'registry'
      ? await resolveImage(store, referenceOf(src.ref), platform, hooks)
      : await layout!.resolveImage(src.tag, {platform, ...hooks});
  if (!layerFetches && resolved.manifest) {
    const diffIds = resolved.config?.rootfs?.diff_ids ?? [];
    layerFetches = openSmallLayers(resolved.manifest, store, diffIds);
  }
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
  const notImage = m && !schema1 ? notAnImage(m, r.entry) : undefined;
  const configType = m?.json.config?.mediaType;
  const artifactType =
    m?.json.artifactType ??
    (notImage === 'attestation' ? IN_TOTO_LAYER : undefined) ??
    (configType !== undefined && !isImageConfigMediaType(configType)
      ? configType
      : undefined);
  // With no manifest for the platform, what it would have been is unknown; NO_MATCHING_PLATFORM says so.
  const containerImage = notImage === undefined;
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
    ...(notImage && {notImage}),
    ...(notImage === 'attestation' && {
      attestation: attestationFacts(m!, r.entry, r.index),
    }),
    ...(artifactType !== undefined && {artifactType}),
    layers: containerImage
      ? opened.map(l =>
          !schema1 && diffIds[l.index] ? {...l, diffId: diffIds[l.index]} : l,
        )
      : [],
    ...(schema1 && {schema1Throwaway: schema1Layers(m.json).throwaway}),
  };
}

/** Why a (non schema 1) manifest is not a container image, or undefined when it is one. */
function notAnImage(
  m: FetchedManifest,
  entry: Descriptor | undefined,
): NotAnImage | undefined {
  if ((entry && isAttestationEntry(entry)) || isAttestationManifest(m.json))
    return 'attestation';
  const configType = m.json.config?.mediaType;
  if (
    m.json.artifactType !== undefined ||
    configType === undefined ||
    !isImageConfigMediaType(configType)
  )
    return 'artifact';
  if ((m.json.layers ?? []).length === 0) return 'no-layers';
  return undefined;
}

function attestationFacts(
  m: FetchedManifest,
  entry: Descriptor | undefined,
  index: FetchedManifest | undefined,
): AttestationFacts {
  const subject = entry?.annotations?.[REFERENCE_DIGEST_ANNOTATION];
  const described = index?.json.manifests?.find(d => d.digest === subject);
  return {
    ...(subject && {subject}),
    ...(described?.platform && {
      subjectPlatform: formatPlatform(normalizePlatform(described.platform)),
    }),
    predicateTypes: predicateTypes(m.json),
  };
}

/**
 * The manifest's layers, the small ones that no diff_id describes opened to count their tar
 * entries: an empty tar is nothing but zero blocks, so a diff_id alone tells whether it is
 * empty. Schema 1 layers (no config) are opened, as the schema 2 image they convert to will have
 * them; artifacts and attestations hold no filesystem layers to open.
 */
async function openSmallLayers(
  m: FetchedManifest,
  store: ContentStore,
  diffIds: readonly string[],
): Promise<LayerFacts[]> {
  if (isSchema1MediaType(m.mediaType)) {
    // Schema 1 names no sizes or media types: its layers are gzipped tars, fetched up to the limit.
    return Promise.all(
      schema1Layers(m.json).kept.map((digest, index) =>
        openLayerFacts(store, {
          index,
          digest,
          size: 0,
          mediaType: DOCKER_LAYER_GZIP,
        }),
      ),
    );
  }
  if (notAnImage(m, undefined)) return [];
  return Promise.all(
    (m.json.layers ?? []).map((d, index) => {
      const layer = {
        index,
        digest: d.digest,
        size: d.size,
        mediaType: d.mediaType,
      };
      return diffIds[index]
        ? Promise.resolve(layer)
        : openLayerFacts(store, layer, d.size);
    }),
  );
}

/** Opens one layer when it is small enough to be an empty tar; `knownSize` skips a fetch. */
async function openLayerFacts(
  store: ContentStore,
  layer: LayerFacts,
  knownSize?: number,
): Promise<LayerFacts> {
  if (KNOWN_EMPTY_LAYER_DIGESTS.has(layer.digest)) return layer;
  const limit =
    layerCompression(layer.mediaType) === 'uncompressed'
      ? MAX_OPENED_TAR_BYTES
      : MAX_OPENED_LAYER_BYTES;
  const tooBig = `larger than the ${limit} bytes opened to look for empty tars`;
  if (knownSize !== undefined && knownSize > limit)
    return {...layer, unopened: tooBig};
  let blob: Buffer;
  try {
    blob = await store.blob(layer.digest, {maxBytes: limit});
  } catch (e) {
    if (!(e instanceof BlobTooLargeError)) throw e;
    return {
      ...layer,
      ...(e.size !== undefined && {size: e.size}),
      unopened: tooBig,
    };
  }
  const contents = await openLayer(blob);
  const fetched = {...layer, size: blob.length};
  return 'entries' in contents
    ? {...fetched, entries: contents.entries}
    : {...fetched, unreadable: contents.unreadable};
}

/** Parses IMAGE, inspects it, and judges it for a job in `region`: the `pushrun check` report. */
export async function checkImage(
  text: string,
  opts: {platform?: string; region?: string},
  deps: CheckDeps,
): Promise<CheckReport> {
  // A region that does not exist is a usage error, found before any request.
  if (opts.region !== undefined) assertRegion(opts.region);
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
    platform:
      facts.platformMatched && facts.containerImage
        ? (facts.platform ?? facts.wantedPlatform)
        : null,
    streamable: verdict.streamable,
    reasons: verdict.reasons.map(r => ({code: r.code, message: r.message})),
    platformDigest: facts.platformDigest ?? null,
    warnings: (verdict.warnings ?? []).map(w => ({
      code: w.code,
      message: w.message,
    })),
  };
}
