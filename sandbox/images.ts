/**
 * Demo images built in-process (tar-stream tars, zlib gzip, configs with the right diff_ids) and
 * pushed with plain Registry API v2 calls, or written as OCI image layouts. Each spec is a shape
 * the streaming verdict must tell apart.
 */
import {mkdir, writeFile} from 'node:fs/promises';
import * as path from 'node:path';
import {
  DOCKER_MANIFEST_LIST,
  OCI_MANIFEST,
  OCI_INDEX,
  OCI_LAYER,
  OCI_LAYER_ZSTD,
} from '../shared/registry/media_types';
import {
  KNOWN_EMPTY_GZIP,
  buildAttestedIndex,
  built,
  gzLayer,
  gzipWithMtime,
  imageOf,
  indexOf,
  makeTar,
  sha256,
  zstdRawFrame,
  zstdSkippableFrame,
} from './image_builder';
import type {Blob, BuiltImage} from './image_builder';

export type {Blob, BuiltImage} from './image_builder';
// The empty descriptor of the OCI image spec (artifacts with no config).
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

/** Names of the demo images {@link buildImage} and {@link pushImage} know. */
export const IMAGE_SPECS = [
  'clean',
  'oci',
  'duplicate-layer',
  'recompressed',
  'empty-layer',
  'empty-layer-regzipped',
  'empty-layer-uncompressed',
  'tiny-layer',
  'arm64-only',
  'index',
  'oci-index-without-amd64',
  'artifact',
  'attested-index',
  'whiteout-only',
  'no-layers',
  'duplicate-uncompressed',
  'zstd-tiny-layer',
  'zstd-empty-padded',
  'zstd-multi-frame',
  'zstd-tiny-no-diff-ids',
] as const;
/** One of {@link IMAGE_SPECS}. */
export type ImageSpec = (typeof IMAGE_SPECS)[number];

/** True for a name in {@link IMAGE_SPECS}. */
export function isImageSpec(s: string): s is ImageSpec {
  return (IMAGE_SPECS as readonly string[]).includes(s);
}

/** Builds the demo image `spec` (deterministic: the same spec gives the same digest). */
export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const base = await gzLayer({'etc/demo-release': 'pushrun demo 1\n'});
  const app = await gzLayer({'bin/app': '#!/bin/sh\necho hello\n'});
  switch (spec) {
    case 'clean':
      return imageOf([base, app]);
    case 'oci':
      return imageOf([base, app], {oci: true});
    case 'duplicate-layer':
      return imageOf([base, app, base]);
    case 'recompressed': {
      // The same tar gzipped with another header: a new digest, the same diff_id.
      const again = await gzLayer({'etc/demo-release': 'pushrun demo 1\n'}, 1);
      return imageOf([base, app, again]);
    }
    case 'empty-layer': {
      const tar = Buffer.alloc(1024);
      return imageOf([
        base,
        {bytes: KNOWN_EMPTY_GZIP, diffId: sha256(tar)},
        app,
      ]);
    }
    case 'empty-layer-regzipped': {
      // An empty tar padded to 1536 bytes, gzipped by zlib: neither digest nor diff_id is known.
      const tar = Buffer.alloc(1536);
      return imageOf([
        base,
        {bytes: gzipWithMtime(tar, 7, 9), diffId: sha256(tar)},
        app,
      ]);
    }
    case 'empty-layer-uncompressed': {
      // A tar with no entries but extra zero padding, stored uncompressed.
      const tar = Buffer.alloc(2048);
      return imageOf(
        [base, {bytes: tar, diffId: sha256(tar), mediaType: OCI_LAYER}, app],
        {oci: true},
      );
    }
    case 'tiny-layer':
      return imageOf([base, await gzLayer({x: 'y'}), app]);
    case 'arm64-only':
      return imageOf([base, app], {architecture: 'arm64', variant: 'v8'});
    case 'index':
      return indexOf(DOCKER_MANIFEST_LIST, [
        {image: imageOf([base, app]), architecture: 'amd64'},
        {
          image: imageOf([base, await gzLayer({'bin/app': 'arm\n'})], {
            architecture: 'arm64',
            variant: 'v8',
          }),
          architecture: 'arm64',
          variant: 'v8',
        },
      ]);
    case 'oci-index-without-amd64':
      return indexOf(OCI_INDEX, [
        {
          image: imageOf([base, app], {oci: true, architecture: 'arm64'}),
          architecture: 'arm64',
        },
        {
          image: imageOf([base, app], {oci: true, architecture: 's390x'}),
          architecture: 's390x',
        },
      ]);
    case 'attested-index':
      return buildAttestedIndex([
        {image: imageOf([base, app], {oci: true}), architecture: 'amd64'},
        {
          image: imageOf([base, await gzLayer({'bin/app': 'arm\n'})], {
            oci: true,
            architecture: 'arm64',
          }),
          architecture: 'arm64',
        },
      ]);
    case 'whiteout-only':
      // The layer umoci repack writes after one file is deleted: the whiteout entry alone.
      return imageOf([base, app, await gzLayer({'etc/.wh.demo-release': ''})], {
        oci: true,
      });
    case 'no-layers':
      return imageOf([], {oci: true});
    case 'duplicate-uncompressed': {
      // The same tar twice: gzipped, then as it is (`…layer.v1.tar`).
      const tar = await makeTar({'etc/demo-release': 'pushrun demo 1\n'});
      return imageOf(
        [base, app, {bytes: tar, diffId: sha256(tar), mediaType: OCI_LAYER}],
        {oci: true},
      );
    }
    case 'zstd-tiny-layer':
    case 'zstd-tiny-no-diff-ids': {
      const tar = await makeTar({'bin/tool': '#!/bin/sh\n'});
      return imageOf(
        [
          base,
          {
            bytes: zstdRawFrame(tar),
            diffId: sha256(tar),
            mediaType: OCI_LAYER_ZSTD,
          },
        ],
        {oci: true, noDiffIds: spec === 'zstd-tiny-no-diff-ids'},
      );
    }
    case 'zstd-empty-padded': {
      // An empty tar padded to 3 blocks, behind a skippable frame: no known digest or diff_id.
      const tar = Buffer.alloc(1536);
      const bytes = Buffer.concat([zstdSkippableFrame(16), zstdRawFrame(tar)]);
      return imageOf(
        [base, {bytes, diffId: sha256(tar), mediaType: OCI_LAYER_ZSTD}, app],
        {oci: true},
      );
    }
    case 'zstd-multi-frame': {
      // One file's tar cut into two frames and a trailing skippable frame, as zstd:chunked writes.
      const tar = await makeTar({'bin/tool': '#!/bin/sh\n'});
      const bytes = Buffer.concat([
        zstdRawFrame(tar.subarray(0, 512)),
        zstdRawFrame(tar.subarray(512)),
        zstdSkippableFrame(64),
      ]);
      return imageOf(
        [base, {bytes, diffId: sha256(tar), mediaType: OCI_LAYER_ZSTD}],
        {oci: true},
      );
    }
    case 'artifact': {
      const config = Buffer.from('{}');
      const data = Buffer.from('not a filesystem\n');
      const json = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.example.report.v1',
        config: {
          mediaType: OCI_EMPTY,
          digest: sha256(config),
          size: config.length,
        },
        layers: [
          {mediaType: 'text/plain', digest: sha256(data), size: data.length},
        ],
      };
      return built(OCI_MANIFEST, json, [config, data]);
    }
  }
}

async function upload(baseUrl: string, repo: string, b: Blob): Promise<void> {
  const head = await fetch(`${baseUrl}/v2/${repo}/blobs/${b.digest}`, {
    method: 'HEAD',
  });
  if (head.ok) return;
  const start = await fetch(`${baseUrl}/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
  });
  await start.body?.cancel();
  if (start.status !== 202) {
    throw new Error(`upload start for ${repo} answered ${start.status}`);
  }
  const location = new URL(start.headers.get('location')!, baseUrl);
  location.searchParams.set('digest', b.digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: {'Content-Type': 'application/octet-stream'},
    body: b.bytes,
  });
  if (put.status !== 201) {
    throw new Error(
      `blob ${b.digest} upload answered ${put.status}: ${await put.text()}`,
    );
  }
}

async function putManifest(
  baseUrl: string,
  repo: string,
  reference: string,
  image: BuiltImage,
): Promise<void> {
  const res = await fetch(`${baseUrl}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: {'Content-Type': image.mediaType},
    body: image.manifest,
  });
  if (res.status !== 201) {
    throw new Error(
      `manifest PUT ${repo}:${reference} answered ${res.status}: ${await res.text()}`,
    );
  }
}

/** Pushes a built image (children first) with Registry API v2 calls; tags it when `tag` is given. */
export async function pushBuiltImage(
  baseUrl: string,
  repoPath: string,
  image: BuiltImage,
  tag?: string,
): Promise<string> {
  for (const child of image.children)
    await pushBuiltImage(baseUrl, repoPath, child);
  for (const b of image.blobs) await upload(baseUrl, repoPath, b);
  await putManifest(baseUrl, repoPath, tag ?? image.digest, image);
  return image.digest;
}

/** Builds and pushes the demo image `spec` as `repoPath:tag`; resolves to its digest. */
export async function pushImage(
  baseUrl: string,
  repoPath: string,
  tag: string,
  spec: ImageSpec,
): Promise<string> {
  return pushBuiltImage(baseUrl, repoPath, await buildImage(spec), tag);
}

/** Writes the demo image `spec` as an OCI image layout in `dir`, named `tag`. */
export async function writeOciLayout(
  dir: string,
  spec: ImageSpec | BuiltImage,
  tag?: string,
): Promise<BuiltImage> {
  const image = typeof spec === 'string' ? await buildImage(spec) : spec;
  const write = async (b: Blob) => {
    const [alg, hex] = b.digest.split(':');
    await mkdir(path.join(dir, 'blobs', alg), {recursive: true});
    await writeFile(path.join(dir, 'blobs', alg, hex), b.bytes);
  };
  const writeAll = async (img: BuiltImage): Promise<void> => {
    for (const child of img.children) await writeAll(child);
    for (const b of img.blobs) await write(b);
    await write({digest: img.digest, bytes: img.manifest});
  };
  await writeAll(image);
  await writeFile(
    path.join(dir, 'oci-layout'),
    JSON.stringify({imageLayoutVersion: '1.0.0'}),
  );
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      {
        mediaType: image.mediaType,
        digest: image.digest,
        size: image.manifest.length,
        ...(tag && {annotations: {'org.opencontainers.image.ref.name': tag}}),
      },
    ],
  };
  await writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
  return image;
}
