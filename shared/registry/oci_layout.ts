/**
 * Reads an OCI image layout on disk (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), as written
 * by `skopeo copy … oci:DIR:TAG` or `docker buildx build --output type=oci`. See
 * https://github.com/opencontainers/image-spec/blob/main/image-layout.md
 */
import {readFile} from 'node:fs/promises';
import * as path from 'node:path';
import {digestMatches, parseManifest} from './manifest';
import {OCI_INDEX} from './media_types';
import {
  BlobTooLargeError,
  RegistryError,
  type ContentStore,
  type Descriptor,
  type FetchedManifest,
  type ResolvedImage,
} from './registry';
import {resolveImage, type ResolveHooks} from './resolve';

/** The annotation naming a manifest in `index.json`: the tag of `oci:DIR:TAG`. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
const DIGEST = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** An image layout opened on disk. */
export interface OciLayout extends ContentStore {
  readonly dir: string;
  /** The tags (ref.name annotations) `index.json` lists. */
  readonly tags: readonly string[];
  /** Resolves `tag` (or the layout's only image) to one platform, like Registry.resolveImage. */
  resolveImage(
    tag?: string,
    opts?: {platform?: string} & ResolveHooks,
  ): Promise<ResolvedImage>;
}

/** Opens an image layout; throws RegistryError (status 404) when DIR is not one. */
export async function openOciLayout(dir: string): Promise<OciLayout> {
  const layoutFile = await readText(
    path.join(dir, 'oci-layout'),
    `${dir} is not an OCI image layout: no oci-layout file`,
  );
  const version = (JSON.parse(layoutFile) as {imageLayoutVersion?: string})
    .imageLayoutVersion;
  if (!version?.startsWith('1.')) {
    throw new RegistryError(
      `${dir}/oci-layout: unsupported imageLayoutVersion ${String(version)}`,
      undefined,
      false,
    );
  }
  const indexBytes = await readFile(path.join(dir, 'index.json')).catch(e => {
    throw new RegistryError(`${dir} has no index.json`, 404, false, {cause: e});
  });
  const index = parseManifest(
    indexBytes,
    {contentType: OCI_INDEX},
    `${dir}/index.json`,
  );
  const entries: readonly Descriptor[] = index.json.manifests ?? [];
  const tags = entries
    .map(d => d.annotations?.[REF_NAME_ANNOTATION])
    .filter((t): t is string => !!t);

  const blobPath = (digest: string): string => {
    const m = DIGEST.exec(digest);
    if (!m)
      throw new RegistryError(`${digest} is not a digest`, undefined, false);
    return path.join(dir, 'blobs', m[1], m[2]);
  };
  const blob = async (
    digest: string,
    opts: {maxBytes?: number} = {},
  ): Promise<Buffer> => {
    const bytes = await readFile(blobPath(digest)).catch(e => {
      throw new RegistryError(
        `blob ${digest} is missing from ${dir}`,
        404,
        false,
        {cause: e},
      );
    });
    if (opts.maxBytes !== undefined && bytes.length > opts.maxBytes) {
      throw new BlobTooLargeError(
        `blob ${digest} in ${dir} is more than ${opts.maxBytes} bytes`,
        bytes.length,
      );
    }
    if (!digestMatches(bytes, digest)) {
      throw new RegistryError(
        `blob ${digest} in ${dir} does not match its digest`,
        undefined,
        false,
      );
    }
    return bytes;
  };
  const manifest = async (reference: string): Promise<FetchedManifest> => {
    if (reference === INDEX_JSON) return index;
    const entry = entries.find(d => d.digest === reference);
    return parseManifest(
      await blob(reference),
      {contentType: entry?.mediaType, digest: reference},
      `manifest ${reference} in ${dir}`,
    );
  };

  // With no tag: the only image, or index.json itself when every entry names its platform.
  const pick = (tag: string | undefined): string => {
    if (tag !== undefined) {
      const entry = entries.find(d => {
        const name = d.annotations?.[REF_NAME_ANNOTATION];
        return name === tag || name?.endsWith(`:${tag}`);
      });
      if (!entry) {
        throw new RegistryError(
          `${dir} has no image tagged "${tag}"${tags.length ? ` (tags: ${tags.join(', ')})` : ' (it has no tags)'}`,
          404,
          false,
        );
      }
      return entry.digest;
    }
    if (entries.length === 1) return entries[0].digest;
    if (entries.length > 1 && entries.every(d => d.platform)) return INDEX_JSON;
    throw new RegistryError(
      entries.length === 0
        ? `${dir} holds no image`
        : `${dir} holds ${entries.length} images; name one as oci:${dir}:TAG${tags.length ? ` (tags: ${tags.join(', ')})` : ''}`,
      entries.length === 0 ? 404 : undefined,
      false,
    );
  };

  return {
    dir,
    tags,
    manifest,
    blob,
    resolveImage: async (tag, opts = {}) =>
      resolveImage({manifest, blob}, pick(tag), opts.platform, opts),
  };
}

// index.json is not a blob; this stands for it when it is itself the image index.
const INDEX_JSON = 'index.json';

async function readText(file: string, missing: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new RegistryError(missing, 404, false, {cause: e});
  }
}
