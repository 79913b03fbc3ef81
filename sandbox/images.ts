/**
 * Demo images built in-process (tar-stream tars, zlib gzip, configs with the right diff_ids) and
 * pushed with plain Registry API v2 calls, or written as OCI image layouts. Each spec is a shape
 * the streaming verdict must tell apart.
 */
import {createHash} from 'node:crypto';
import {mkdir, writeFile} from 'node:fs/promises';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import * as path from 'node:path';
import {gzipSync} from 'node:zlib';
import {pack} from 'tar-stream';

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

/** A blob to upload. */
export interface Blob {
  readonly digest: string;
  readonly bytes: Buffer;
}

/** A built image: its manifest, its blobs, and (for an index) its child images. */
export interface BuiltImage {
  readonly mediaType: string;
  readonly manifest: Buffer;
  readonly digest: string;
  readonly blobs: readonly Blob[];
  readonly children: readonly BuiltImage[];
}

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const IN_TOTO = 'application/vnd.in-toto+json';
const SCHEMA1_SIGNED =
  'application/vnd.docker.distribution.manifest.v1+prettyjws';

/** distribution's gzipped empty tar: the well-known empty layer `sha256:a3ed95ca…`. */
export const KNOWN_EMPTY_GZIP = Buffer.from([
  31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20, 140, 88, 0, 8,
  0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0,
]);

/** `sha256:<hex>`. */
export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A deterministic tar of `files` (mtime 0), built with tar-stream. */
export async function makeTar(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) {
    p.entry({name, mtime: new Date(0), mode: 0o644}, content);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** gzip with a chosen header mtime, so the same tar gets a different digest. */
export function gzipWithMtime(tar: Buffer, mtime: number, level = 6): Buffer {
  const gz = Buffer.from(gzipSync(tar, {level}));
  gz.writeUInt32LE(mtime, 4); // MTIME; the trailer's CRC covers only the data.
  return gz;
}

/**
 * One zstd frame holding `data` in raw blocks (RFC 8878 §3.1.1.2): valid zstd that every decoder
 * reads, written without a compressor, so tests make zstd layers on Node.js 20 too.
 */
export function zstdRawFrame(data: Buffer): Buffer {
  const MAX_BLOCK = 128 * 1024;
  // Frame_Header_Descriptor 0xa0: 4-byte content size, single segment, no checksum or dictionary.
  const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 0, 0]);
  header.writeUInt32LE(data.length, 5);
  const blocks: Buffer[] = [];
  let at = 0;
  do {
    const chunk = data.subarray(at, at + MAX_BLOCK);
    at += chunk.length;
    const last = at >= data.length ? 1 : 0;
    const blockHeader = Buffer.alloc(3);
    blockHeader.writeUIntLE((chunk.length << 3) | last, 0, 3); // type 0: raw
    blocks.push(blockHeader, chunk);
  } while (at < data.length);
  return Buffer.concat([header, ...blocks]);
}

/** A zstd skippable frame (RFC 8878 §3.1.2) of `size` zero bytes: padding a decoder skips. */
export function zstdSkippableFrame(size: number): Buffer {
  const frame = Buffer.alloc(8 + size);
  frame.writeUInt32LE(0x184d2a50, 0);
  frame.writeUInt32LE(size, 4);
  return frame;
}

interface Layer {
  readonly bytes: Buffer;
  readonly diffId: string;
  readonly mediaType?: string;
}

async function gzLayer(
  files: Record<string, string>,
  mtime = 0,
): Promise<Layer> {
  const tar = await makeTar(files);
  return {bytes: gzipWithMtime(tar, mtime), diffId: sha256(tar)};
}

function imageOf(
  layers: readonly Layer[],
  opts: {
    oci?: boolean;
    architecture?: string;
    variant?: string;
    /** Leave `rootfs.diff_ids` empty, as a hand-made config might: layers must be opened. */
    noDiffIds?: boolean;
  } = {},
): BuiltImage {
  const oci = opts.oci ?? false;
  const config = Buffer.from(
    JSON.stringify({
      architecture: opts.architecture ?? 'amd64',
      ...(opts.variant && {variant: opts.variant}),
      os: 'linux',
      config: {Cmd: ['/bin/app']},
      rootfs: {
        type: 'layers',
        diff_ids: opts.noDiffIds ? [] : layers.map(l => l.diffId),
      },
    }),
  );
  const layerMediaType = oci ? OCI_LAYER_GZIP : DOCKER_LAYER;
  const manifest = {
    schemaVersion: 2,
    mediaType: oci ? OCI_MANIFEST : DOCKER_MANIFEST,
    config: {
      mediaType: oci ? OCI_CONFIG : DOCKER_CONFIG,
      digest: sha256(config),
      size: config.length,
    },
    layers: layers.map(l => ({
      mediaType: l.mediaType ?? layerMediaType,
      digest: sha256(l.bytes),
      size: l.bytes.length,
    })),
  };
  return built(manifest.mediaType, manifest, [
    config,
    ...layers.map(l => l.bytes),
  ]);
}

function built(
  mediaType: string,
  json: unknown,
  blobs: Buffer[],
  children: BuiltImage[] = [],
): BuiltImage {
  const manifest = Buffer.from(JSON.stringify(json, null, 2));
  const unique = new Map(blobs.map(b => [sha256(b), b]));
  return {
    mediaType,
    manifest,
    digest: sha256(manifest),
    blobs: [...unique].map(([digest, bytes]) => ({digest, bytes})),
    children,
  };
}

/** An image of an index, with the platform its entry names. */
interface IndexChild {
  readonly image: BuiltImage;
  readonly architecture: string;
  readonly variant?: string;
}

/** The index entry of a linux image: its descriptor and platform. */
function indexEntry(c: IndexChild): unknown {
  return {
    mediaType: c.image.mediaType,
    digest: c.image.digest,
    size: c.image.manifest.length,
    platform: {
      architecture: c.architecture,
      os: 'linux',
      ...(c.variant && {variant: c.variant}),
    },
  };
}

function indexOf(mediaType: string, children: IndexChild[]): BuiltImage {
  const json = {
    schemaVersion: 2,
    mediaType,
    manifests: children.map(indexEntry),
  };
  return built(
    mediaType,
    json,
    [],
    children.map(c => c.image),
  );
}

/**
 * An OCI index as BuildKit pushes one with `--attest type=sbom --attest type=provenance`: each
 * image has an attestation manifest beside it, with platform `unknown/unknown`, the annotations
 * `vnd.docker.reference.type: attestation-manifest` and `vnd.docker.reference.digest`, an image
 * config "for compatibility only", and one in-toto statement layer per predicate. See
 * https://docs.docker.com/build/metadata/attestations/attestation-storage/
 */
export function buildAttestedIndex(children: IndexChild[]): BuiltImage {
  const entries = children.map(indexEntry);
  const members = children.map(c => c.image);
  for (const c of children) {
    const att = attestationManifest(c.image.digest);
    entries.push({
      mediaType: OCI_MANIFEST,
      digest: att.digest,
      size: att.manifest.length,
      annotations: {
        'vnd.docker.reference.digest': c.image.digest,
        'vnd.docker.reference.type': 'attestation-manifest',
      },
      platform: {architecture: 'unknown', os: 'unknown'},
    });
    members.push(att);
  }
  return built(
    OCI_INDEX,
    {schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries},
    [],
    members,
  );
}

/** BuildKit's attestation manifest for the image `subject`: an SPDX SBOM and SLSA provenance. */
function attestationManifest(subject: string): BuiltImage {
  const statement = (predicateType: string, predicate: unknown) =>
    Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v0.1',
        predicateType,
        subject: [
          {
            name: 'pkg:docker/acme/demo/app@v1',
            digest: {sha256: subject.slice('sha256:'.length)},
          },
        ],
        predicate,
      }),
    );
  const layers = [
    {
      type: 'https://spdx.dev/Document',
      bytes: statement('https://spdx.dev/Document', {
        spdxVersion: 'SPDX-2.3',
        name: 'sbom',
        packages: [],
      }),
    },
    {
      type: 'https://slsa.dev/provenance/v0.2',
      bytes: statement('https://slsa.dev/provenance/v0.2', {
        builder: {id: ''},
        buildType: 'https://mobyproject.org/buildkit@v1',
      }),
    },
  ];
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'unknown',
      os: 'unknown',
      config: {},
      rootfs: {type: 'layers', diff_ids: layers.map(l => sha256(l.bytes))},
    }),
  );
  const json = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: OCI_CONFIG,
      digest: sha256(config),
      size: config.length,
    },
    layers: layers.map(l => ({
      mediaType: IN_TOTO,
      digest: sha256(l.bytes),
      size: l.bytes.length,
      annotations: {'in-toto.io/predicate-type': l.type},
    })),
  };
  return built(OCI_MANIFEST, json, [config, ...layers.map(l => l.bytes)]);
}

/**
 * Builds an image from one `{path: content}` map per layer (gzipped, deterministic), for shapes
 * the named specs do not cover, such as layers too big to open.
 */
export async function buildLayeredImage(
  layers: readonly Record<string, string>[],
  opts: {oci?: boolean; architecture?: string} = {},
): Promise<BuiltImage> {
  return imageOf(await Promise.all(layers.map(files => gzLayer(files))), opts);
}

/** A manifest list (or OCI index with `oci`) over built images, one per platform. */
export function buildIndexImage(
  children: IndexChild[],
  opts: {oci?: boolean} = {},
): BuiltImage {
  return indexOf(opts.oci ? OCI_INDEX : DOCKER_LIST, children);
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
        [
          base,
          {bytes: tar, diffId: sha256(tar), mediaType: OCI_LAYER_TAR},
          app,
        ],
        {oci: true},
      );
    }
    case 'tiny-layer':
      return imageOf([base, await gzLayer({x: 'y'}), app]);
    case 'arm64-only':
      return imageOf([base, app], {architecture: 'arm64', variant: 'v8'});
    case 'index':
      return indexOf(DOCKER_LIST, [
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
        [
          base,
          app,
          {bytes: tar, diffId: sha256(tar), mediaType: OCI_LAYER_TAR},
        ],
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

/** A tiny registry that serves one signed schema 1 manifest, since distribution refuses those. */
export interface Schema1Server {
  readonly baseUrl: string;
  readonly digest: string;
  /** The blob of the empty layer that stays after conversion to schema 2. */
  readonly emptyLayer: string;
  readonly requests: string[];
  stop(): Promise<void>;
}

/**
 * Serves a Docker v2 schema 1 (signed) manifest for every repository and tag, and its blobs. Its
 * layers, top first, are what `skopeo copy --format v2s1` writes for an image whose last step was
 * a metadata-only commit: the known empty gzip as a throwaway history entry, a gzipped empty tar
 * that is a real layer (a commit with no file changed), and one layer of files.
 */
export async function startSchema1Server(): Promise<Schema1Server> {
  const files = await gzLayer({'bin/app': '#!/bin/sh\necho hello\n'});
  const empty = gzipWithMtime(Buffer.alloc(1024), 0, 9);
  const blobs = new Map(
    [KNOWN_EMPTY_GZIP, empty, files.bytes].map(b => [sha256(b), b]),
  );
  const payload = JSON.stringify(
    {
      schemaVersion: 1,
      name: 'acme/demo/old',
      tag: 'v1',
      architecture: 'amd64',
      fsLayers: [
        {blobSum: sha256(KNOWN_EMPTY_GZIP)},
        {blobSum: sha256(empty)},
        {blobSum: sha256(files.bytes)},
      ],
      history: [
        {v1Compatibility: JSON.stringify({id: 'c', throwaway: true})},
        {v1Compatibility: JSON.stringify({id: 'b'})},
        {v1Compatibility: JSON.stringify({id: 'a'})},
      ],
    },
    null,
    3,
  );
  // The digest of a signed schema 1 manifest covers the payload without its signatures.
  const digest = sha256(Buffer.from(payload));
  const body = payload.replace(
    /\n}$/,
    ',\n   "signatures": [{"header": {"alg": "ES256"}, "signature": "x", "protected": "e30"}]\n}',
  );
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const blob = /^\/v2\/.+\/blobs\/([^/]+)$/.exec(req.url ?? '')?.[1];
    if (req.url === '/v2/') {
      res.writeHead(200).end('{}');
    } else if (/^\/v2\/.+\/manifests\/[^/]+$/.test(req.url ?? '')) {
      res
        .writeHead(200, {
          'Content-Type': SCHEMA1_SIGNED,
          'Docker-Content-Digest': digest,
        })
        .end(body);
    } else if (blob && blobs.has(blob)) {
      res
        .writeHead(200, {'Content-Type': 'application/octet-stream'})
        .end(blobs.get(blob));
    } else {
      res
        .writeHead(404, {'Content-Type': 'application/json'})
        .end(
          JSON.stringify({errors: [{code: 'NOT_FOUND', message: 'not here'}]}),
        );
    }
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    digest,
    emptyLayer: sha256(empty),
    requests,
    stop: () =>
      new Promise(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
