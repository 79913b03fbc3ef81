/**
 * A tiny registry serving one signed Docker v2 schema 1 manifest (distribution refuses to store
 * those), for the checks of old images.
 */
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {DOCKER_MANIFEST_V1_SIGNED} from '../shared/registry/media_types';
import {
  KNOWN_EMPTY_GZIP,
  gzLayer,
  gzipWithMtime,
  sha256,
} from './image_builder';

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
          'Content-Type': DOCKER_MANIFEST_V1_SIGNED,
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
