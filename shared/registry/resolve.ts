/** Resolves a reference to the image manifest for one platform, and fetches its config. */
import {
  isImageConfigMediaType,
  isIndexMediaType,
  isSchema1MediaType,
} from './media_types';
import {isAttestationEntry} from './attestation';
import {
  DEFAULT_PLATFORM,
  formatPlatform,
  isUnknownPlatform,
  normalizePlatform,
  parsePlatform,
  platformMatches,
  selectPlatform,
  type Platform,
} from './platform';
import {
  RegistryError,
  type ContentStore,
  type Descriptor,
  type FetchedManifest,
  type ImageConfigJson,
  type ResolvedImage,
} from './registry';

/** Lets a caller start work (such as layer fetches) as soon as the platform's manifest is known. */
export interface ResolveHooks {
  readonly onManifest?: (manifest: FetchedManifest) => void;
}

// An index may point at another index (rare, but allowed); deeper nesting is refused.
const MAX_INDEX_DEPTH = 2;
// Image configs are small; a bigger one is not worth reading to learn os/arch.
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * Fetches what `reference` names in `store`; an index is resolved to `platform` (default
 * linux/amd64). A missing platform is reported, not thrown: `platformMatched` is false.
 */
export async function resolveImage(
  store: ContentStore,
  reference: string,
  platform: string = DEFAULT_PLATFORM,
  hooks: ResolveHooks = {},
): Promise<ResolvedImage> {
  const wanted = parsePlatform(platform);
  const top = await store.manifest(reference);
  let manifest: FetchedManifest | undefined = top;
  let index: FetchedManifest | undefined;
  let entry: Descriptor | undefined;
  let availablePlatforms: string[] = [];
  for (
    let depth = 0;
    manifest && isIndexMediaType(manifest.mediaType);
    depth++
  ) {
    if (depth >= MAX_INDEX_DEPTH) {
      throw new RegistryError(
        `${top.digest} nests indexes more than ${MAX_INDEX_DEPTH} deep`,
        undefined,
        false,
      );
    }
    index ??= manifest;
    entry = chooseEntry(manifest.json.manifests ?? [], wanted);
    availablePlatforms = offeredPlatforms(manifest.json.manifests ?? []);
    manifest = entry ? await store.manifest(entry.digest) : undefined;
  }
  const entryPlatform = entry?.platform && normalizePlatform(entry.platform);
  const base = {
    digest: top.digest,
    mediaType: top.mediaType,
    wanted,
    availablePlatforms,
    ...(index && {index}),
    ...(entry && {entry}),
  };
  if (!manifest) return {...base, platformMatched: false};

  hooks.onManifest?.(manifest);
  let config: ImageConfigJson | undefined;
  const configDescriptor = manifest.json.config;
  if (configDescriptor && isImageConfigMediaType(configDescriptor.mediaType)) {
    const bytes = await store.blob(configDescriptor.digest, {
      maxBytes: MAX_CONFIG_BYTES,
    });
    config = parseConfig(bytes, configDescriptor.digest);
  }
  const havePlatform = entryPlatform ?? platformOf(manifest, config);
  return {
    ...base,
    manifest,
    ...(config && {config}),
    ...(havePlatform && {platform: havePlatform}),
    // An image that does not say what it is built for is given the benefit of the doubt.
    platformMatched: !havePlatform || platformMatches(wanted, havePlatform),
  };
}

/**
 * The entry for `wanted`: an image first. An attestation entry is chosen only when no image
 * matches (someone asked for `unknown/unknown`), so that the verdict can say what it is.
 */
function chooseEntry(
  entries: readonly Descriptor[],
  wanted: Platform,
): Descriptor | undefined {
  const images = entries.filter(d => !isAttestationEntry(d));
  return (
    selectPlatform(images, wanted) ??
    selectPlatform(entries.filter(isAttestationEntry), wanted)
  );
}

/** The platforms an index offers images for: attestations and `unknown/unknown` are none. */
function offeredPlatforms(entries: readonly Descriptor[]): string[] {
  const platforms = entries
    .filter(d => d.platform && !isAttestationEntry(d))
    .map(d => normalizePlatform(d.platform!))
    .filter(p => !isUnknownPlatform(p))
    .map(formatPlatform);
  return [...new Set(platforms)];
}

function parseConfig(bytes: Buffer, digest: string): ImageConfigJson {
  try {
    return JSON.parse(bytes.toString('utf8')) as ImageConfigJson;
  } catch (e) {
    throw new RegistryError(
      `image config ${digest} is not JSON`,
      undefined,
      false,
      {cause: e},
    );
  }
}

function platformOf(
  manifest: FetchedManifest,
  config: ImageConfigJson | undefined,
): Platform | undefined {
  if (isSchema1MediaType(manifest.mediaType) && manifest.json.architecture) {
    // Schema 1 names only the architecture; schema 1 images are Linux images.
    return normalizePlatform({
      os: 'linux',
      architecture: manifest.json.architecture,
    });
  }
  if (!config?.os || !config.architecture) return undefined;
  return normalizePlatform({
    os: config.os,
    architecture: config.architecture,
    ...(config.variant && {variant: config.variant}),
  });
}
