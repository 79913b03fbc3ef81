/** What pushrun needs from a container registry, and the shapes it gets back. */
import type {ImageRef} from '../image_ref';
import type {Platform} from './platform';

/** A content descriptor, as in OCI image-spec `descriptor.md`. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: {
    readonly os: string;
    readonly architecture: string;
    readonly variant?: string;
  };
  readonly annotations?: Readonly<Record<string, string>>;
  readonly artifactType?: string;
}

/**
 * A manifest, index or schema 1 manifest as JSON. Only the fields pushrun reads are typed; see
 * https://github.com/opencontainers/image-spec/blob/main/manifest.md
 */
export interface ManifestJson {
  readonly schemaVersion?: number;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config?: Descriptor;
  readonly layers?: readonly Descriptor[];
  readonly manifests?: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
  // Docker v2 schema 1 (https://distribution.github.io/distribution/spec/deprecated-schema-v1/):
  // fsLayers and history run from the top layer down, one history entry per fsLayer.
  readonly architecture?: string;
  readonly fsLayers?: readonly {readonly blobSum: string}[];
  readonly history?: readonly {readonly v1Compatibility?: string}[];
}

/** An image config, as far as pushrun reads it (OCI image-spec `config.md`). */
export interface ImageConfigJson {
  readonly os?: string;
  readonly architecture?: string;
  readonly variant?: string;
  readonly rootfs?: {readonly type?: string; readonly diff_ids?: string[]};
}

/** A manifest as fetched: its digest, media type, raw bytes and parsed JSON. */
export interface FetchedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly json: ManifestJson;
}

/** One repository's content, by tag or digest: the registry or an OCI layout on disk. */
export interface ContentStore {
  /** The manifest a tag or digest names. */
  manifest(reference: string): Promise<FetchedManifest>;
  /** A blob by digest; fails rather than read more than `maxBytes` when given. */
  blob(digest: string, opts?: {maxBytes?: number}): Promise<Buffer>;
}

/** An image resolved to one platform: what the reference names, and the manifest that runs. */
export interface ResolvedImage {
  /** Digest of what the reference names (an index for a multi-platform image). */
  readonly digest: string;
  readonly mediaType: string;
  /** The index, when the reference names one. */
  readonly index?: FetchedManifest;
  /** The index entry chosen for the platform, when the reference names an index. */
  readonly entry?: Descriptor;
  /** The image manifest for the platform; absent when no index entry matched. */
  readonly manifest?: FetchedManifest;
  /** The image config, fetched only when the manifest's config is an image config. */
  readonly config?: ImageConfigJson;
  /** The platform asked for. */
  readonly wanted: Platform;
  /** The platform of `manifest`, from the index entry or else from the config. */
  readonly platform?: Platform;
  /** Whether `manifest` is for the platform asked for. */
  readonly platformMatched: boolean;
  /** The platforms an index offers (`os/arch[/variant]`); empty for a single manifest. */
  readonly availablePlatforms: readonly string[];
}

/** A container registry speaking the Registry API v2 (or something that reads like one). */
export interface Registry {
  /** The manifest `reference` (default: the ref's digest, else tag, else `latest`) names. */
  getManifest(ref: ImageRef, reference?: string): Promise<FetchedManifest>;
  /** A blob of the ref's repository, by digest. */
  getBlob(
    ref: ImageRef,
    digest: string,
    opts?: {maxBytes?: number},
  ): Promise<Buffer>;
  /** Fetches the manifest, resolves an index to `platform` (default linux/amd64), fetches the config. */
  resolveImage(
    ref: ImageRef,
    opts?: {
      platform?: string;
      onManifest?: (manifest: FetchedManifest) => void;
    },
  ): Promise<ResolvedImage>;
  /** The repository of `ref` as a content store. */
  store(ref: ImageRef): ContentStore;
  /** HTTP requests made so far, token exchanges included. */
  readonly requestCount: number;
}

/** A registry request that failed; `transient` says whether trying again later may succeed. */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly transient: boolean,
    options?: {cause?: unknown},
  ) {
    super(message, options);
    this.name = 'RegistryError';
  }
}

/** A blob bigger than the caller would read; `size` is how big it is, when the store says. */
export class BlobTooLargeError extends RegistryError {
  constructor(
    message: string,
    readonly size: number | undefined,
    status?: number,
  ) {
    super(message, status, false);
    this.name = 'BlobTooLargeError';
  }
}

/** The tag or digest a reference asks for: digest first, then tag, then `latest`. */
export function referenceOf(ref: ImageRef): string {
  return ref.digest ?? ref.tag ?? 'latest';
}
