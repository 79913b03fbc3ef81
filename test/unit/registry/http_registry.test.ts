import * as assert from 'node:assert';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type {AddressInfo} from 'node:net';
import * as sinon from 'sinon';
import {parseImageRef} from '../../../shared/image_ref';
import {parseChallenge} from '../../../shared/registry/auth';
import {DigestCache} from '../../../shared/registry/cache';
import {makeRegistry, RegistryError} from '../../../shared/registry';
import {buildImage} from '../../../sandbox/images';
import {sha256} from '../../../sandbox/image_builder';
import {parseSettings} from '../../../shared/settings';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A registry stand-in on loopback whose behaviour each test sets. */
async function serve(
  handler: Handler,
): Promise<{url: string; requests: string[]; server: Server}> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(
      `${req.method} ${req.url} ${req.headers.authorization ?? '-'}`,
    );
    handler(req, res);
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    server,
  };
}

const REF = parseImageRef('us-central1-docker.pkg.dev/acme/demo/app:v1');
const GOOGLE_BASIC = `Basic ${Buffer.from('oauth2accesstoken:ya29.fake').toString('base64')}`;

describe('parseChallenge', () => {
  const cases = [
    {
      name: 'Bearer with quoted params and a comma in scope',
      header:
        'Bearer realm="https://us-docker.pkg.dev/v2/token",service="us-docker.pkg.dev",scope="repository:a/b:pull,push"',
      want: {
        scheme: 'bearer',
        params: {
          realm: 'https://us-docker.pkg.dev/v2/token',
          service: 'us-docker.pkg.dev',
          scope: 'repository:a/b:pull,push',
        },
      },
    },
    {
      name: 'Basic',
      header: 'Basic realm="Registry"',
      want: {scheme: 'basic', params: {realm: 'Registry'}},
    },
    {name: 'unknown scheme', header: 'Negotiate abc', want: undefined},
    {name: 'absent', header: null, want: undefined},
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepStrictEqual(parseChallenge(c.header), c.want));
  }
});

describe('HTTP registry', () => {
  let servers: Server[] = [];
  afterEach(() => {
    sinon.restore();
    for (const s of servers) s.close();
    servers = [];
  });
  async function fake(handler: Handler) {
    const f = await serve(handler);
    servers.push(f.server);
    return f;
  }

  it('does not look up Google credentials when the registry does not challenge', async () => {
    const image = await buildImage('clean');
    const f = await fake((req, res) => {
      res.writeHead(200, {'Content-Type': image.mediaType}).end(image.manifest);
    });
    const tokenSource = sinon.stub();
    const registry = makeRegistry(
      parseSettings({PUSHRUN_REGISTRY_ENDPOINT: f.url}),
      {tokenSource, cache: new DigestCache()},
    );
    const m = await registry.getManifest(REF);
    assert.strictEqual(m.digest, image.digest);
    assert.strictEqual(tokenSource.callCount, 0);
    assert.match(f.requests[0], /^GET \/v2\/acme\/demo\/app\/manifests\/v1 -$/);
  });

  it('answers a Bearer challenge with an exchanged token, once per scope', async () => {
    const image = await buildImage('clean');
    const f = await fake((req, res) => {
      if (req.url!.startsWith('/token')) {
        const ok = req.headers.authorization === GOOGLE_BASIC;
        res
          .writeHead(ok ? 200 : 401, {'Content-Type': 'application/json'})
          .end(JSON.stringify(ok ? {token: 'reg-token', expires_in: 300} : {}));
        return;
      }
      if (req.headers.authorization !== 'Bearer reg-token') {
        res
          .writeHead(401, {
            'WWW-Authenticate': `Bearer realm="${f.url}/token",service="fake",scope="repository:acme/demo/app:pull"`,
          })
          .end();
        return;
      }
      res.writeHead(200, {'Content-Type': image.mediaType}).end(image.manifest);
    });
    const getAccessToken = sinon.stub().resolves('ya29.fake');
    const tokenSource = sinon.stub().returns({getAccessToken});
    const registry = makeRegistry(
      parseSettings({PUSHRUN_REGISTRY_ENDPOINT: f.url}),
      {tokenSource, cache: new DigestCache()},
    );
    await registry.getManifest(REF);
    await registry.getManifest(REF, 'v2');
    assert.strictEqual(tokenSource.callCount, 1, 'token source created once');
    assert.strictEqual(getAccessToken.callCount, 1, 'registry token reused');
    assert.deepStrictEqual(
      f.requests.map(r => r.replace(/\?.*? /, '?… ')),
      [
        'GET /v2/acme/demo/app/manifests/v1 -',
        `GET /token?… ${GOOGLE_BASIC}`,
        'GET /v2/acme/demo/app/manifests/v1 Bearer reg-token',
        'GET /v2/acme/demo/app/manifests/v2 Bearer reg-token',
      ],
    );
    assert.match(
      f.requests[1],
      /service=fake&scope=repository%3Aacme%2Fdemo%2Fapp%3Apull/,
    );
    assert.strictEqual(registry.requestCount, 4);
  });

  it('answers a Basic challenge with oauth2accesstoken and the access token', async () => {
    const image = await buildImage('clean');
    const f = await fake((req, res) => {
      if (req.headers.authorization !== GOOGLE_BASIC) {
        res.writeHead(401, {'WWW-Authenticate': 'Basic realm="r"'}).end();
        return;
      }
      res.writeHead(200, {'Content-Type': image.mediaType}).end(image.manifest);
    });
    const getAccessToken = sinon.stub().resolves('ya29.fake');
    const registry = makeRegistry(
      parseSettings({PUSHRUN_REGISTRY_ENDPOINT: f.url}),
      {tokenSource: () => ({getAccessToken}), cache: new DigestCache()},
    );
    await registry.getManifest(REF);
    await registry.getManifest(REF, 'v2');
    assert.deepStrictEqual(
      f.requests.map(r => r.split(' ').slice(2).join(' ')),
      ['-', GOOGLE_BASIC, GOOGLE_BASIC],
    );
  });

  it('never sends Google credentials to a registry that is not Google', async () => {
    const f = await fake((req, res) => {
      res.writeHead(401, {'WWW-Authenticate': 'Basic realm="r"'}).end();
    });
    const tokenSource = sinon.stub();
    const registry = makeRegistry(
      parseSettings({PUSHRUN_REGISTRY_ENDPOINT: f.url}),
      {tokenSource, cache: new DigestCache()},
    );
    await assert.rejects(
      registry.getManifest(parseImageRef('example.com/a/b:1')),
      /credentials only to Google registries/,
    );
    assert.strictEqual(tokenSource.callCount, 0);
  });

  const failures = [
    {
      name: '404',
      status: 404,
      body: {errors: [{code: 'MANIFEST_UNKNOWN', message: 'manifest unknown'}]},
      transient: false,
      message: /not found \(MANIFEST_UNKNOWN: manifest unknown\)/,
    },
    {
      name: '403',
      status: 403,
      body: {errors: [{code: 'DENIED', message: 'no'}]},
      transient: false,
      message: /access denied \(403\).*roles\/artifactregistry\.reader/,
    },
    {
      name: '503',
      status: 503,
      body: {},
      transient: true,
      message: /answered 503/,
    },
    {
      name: '429',
      status: 429,
      body: {},
      transient: true,
      message: /answered 429/,
    },
  ];
  for (const c of failures) {
    it(`maps ${c.name} to a RegistryError (transient: ${c.transient})`, async () => {
      const f = await fake((req, res) =>
        res
          .writeHead(c.status, {'Content-Type': 'application/json'})
          .end(JSON.stringify(c.body)),
      );
      const registry = makeRegistry(
        parseSettings({PUSHRUN_REGISTRY_ENDPOINT: f.url}),
        {cache: new DigestCache()},
      );
      await assert.rejects(
        registry.getManifest(REF),
        (e: unknown) =>
          e instanceof RegistryError &&
          e.status === c.status &&
          e.transient === c.transient &&
          c.message.test(e.message),
      );
    });
  }

  it('reports an unreachable registry as transient', async () => {
    const f = await fake(() => {});
    f.server.close();
    await new Promise(r => setTimeout(r, 20));
    const registry = makeRegistry(
      parseSettings({PUSHRUN_REGISTRY_ENDPOINT: f.url}),
      {cache: new DigestCache()},
    );
    await assert.rejects(
      registry.getManifest(REF),
      (e: unknown) =>
        e instanceof RegistryError &&
        e.transient &&
        /could not reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/.test(e.message),
    );
  });

  it('reports a timeout as transient', async () => {
    const f = await fake(() => {}); // never answers
    const registry = makeRegistry(
      parseSettings({PUSHRUN_REGISTRY_ENDPOINT: f.url}),
      {cache: new DigestCache(), timeoutMs: 100},
    );
    await assert.rejects(
      registry.getManifest(REF),
      (e: unknown) =>
        e instanceof RegistryError &&
        e.transient &&
        /no answer .* within 0\.1s/.test(e.message),
    );
    f.server.closeAllConnections();
  });

  it('refuses a manifest whose bytes do not match the digest asked for', async () => {
    const image = await buildImage('clean');
    const f = await fake((req, res) =>
      res.writeHead(200, {'Content-Type': image.mediaType}).end(image.manifest),
    );
    const registry = makeRegistry(
      parseSettings({PUSHRUN_REGISTRY_ENDPOINT: f.url}),
      {cache: new DigestCache()},
    );
    await assert.rejects(
      registry.getManifest(REF, sha256(Buffer.from('other'))),
      /served content whose digest is/,
    );
  });

  it('serves content by digest from the cache, and tags never', async () => {
    const image = await buildImage('clean');
    const f = await fake((req, res) => {
      if (req.url!.includes('/manifests/'))
        res
          .writeHead(200, {'Content-Type': image.mediaType})
          .end(image.manifest);
      else {
        const b = image.blobs.find(x => req.url!.endsWith(x.digest))!;
        res.writeHead(200, {'Content-Length': b.bytes.length}).end(b.bytes);
      }
    });
    const registry = makeRegistry(
      parseSettings({PUSHRUN_REGISTRY_ENDPOINT: f.url}),
      {cache: new DigestCache()},
    );
    const byDigest = parseImageRef(
      `us-central1-docker.pkg.dev/acme/demo/app@${image.digest}`,
    );
    await registry.resolveImage(byDigest);
    assert.strictEqual(registry.requestCount, 2);
    await registry.resolveImage(byDigest);
    assert.strictEqual(
      registry.requestCount,
      2,
      'a digest already fetched costs nothing',
    );
    await registry.resolveImage(REF);
    assert.strictEqual(
      registry.requestCount,
      3,
      'a tag is asked again, its config is not',
    );
  });
});
