/**
 * `pushrun check` against a real docker-registry, through PUSHRUN_REGISTRY_ENDPOINT with
 * Artifact Registry names: the registry's `acme/demo/app` is `us-central1-docker.pkg.dev/acme/demo/app`.
 */
import * as assert from 'node:assert';
import {repoRoot} from '../../sandbox/functions';
import {runCli} from '../support/cli';
import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import * as path from 'node:path';
import {checkImage, type CheckReport} from '../../shared/check';
import {DigestCache, makeRegistry} from '../../shared/registry';
import {
  IMAGE_SPECS,
  pushImage,
  startSchema1Server,
  type ImageSpec,
} from '../../sandbox/images';
import {useRegistry} from '../../sandbox/registry';
import {parseSettings} from '../../shared/settings';

const AR = 'us-central1-docker.pkg.dev/acme/demo';
const REPO_ROOT = repoRoot();

describe('pushrun check against a real registry', function () {
  this.timeout(20_000);
  const registry = useRegistry();
  const digests = {} as Record<ImageSpec, string>;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    env = {PUSHRUN_REGISTRY_ENDPOINT: registry.current.baseUrl};
    for (const spec of IMAGE_SPECS) {
      digests[spec] = await pushImage(
        registry.current.baseUrl,
        `acme/demo/${spec}`,
        'v1',
        spec,
      );
    }
  });

  /** Runs the CLI in-process; a fresh process would not share the cache, so neither do tests. */
  const cli = (...args: string[]) => runCli(args, env);

  const verdicts: {
    spec: ImageSpec;
    platform?: string;
    want: string[];
    platformShown: string | null;
  }[] = [
    {spec: 'clean', want: [], platformShown: 'linux/amd64'},
    {spec: 'oci', want: [], platformShown: 'linux/amd64'},
    {
      spec: 'duplicate-layer',
      want: ['DUPLICATE_LAYER'],
      platformShown: 'linux/amd64',
    },
    {
      spec: 'recompressed',
      want: ['DUPLICATE_LAYER'],
      platformShown: 'linux/amd64',
    },
    {spec: 'empty-layer', want: ['EMPTY_LAYER'], platformShown: 'linux/amd64'},
    {
      spec: 'empty-layer-regzipped',
      want: ['EMPTY_LAYER'],
      platformShown: 'linux/amd64',
    },
    {
      spec: 'empty-layer-uncompressed',
      want: ['EMPTY_LAYER'],
      platformShown: 'linux/amd64',
    },
    {spec: 'tiny-layer', want: [], platformShown: 'linux/amd64'},
    {spec: 'arm64-only', want: ['NO_MATCHING_PLATFORM'], platformShown: null},
    {
      spec: 'arm64-only',
      platform: 'linux/arm64/v8',
      want: [],
      platformShown: 'linux/arm64',
    },
    {spec: 'index', want: [], platformShown: 'linux/amd64'},
    {
      spec: 'index',
      platform: 'linux/arm64',
      want: [],
      platformShown: 'linux/arm64',
    },
    {
      spec: 'index',
      platform: 'linux/s390x',
      want: ['NO_MATCHING_PLATFORM'],
      platformShown: null,
    },
    {
      spec: 'oci-index-without-amd64',
      want: ['NO_MATCHING_PLATFORM'],
      platformShown: null,
    },
    {
      spec: 'artifact',
      want: ['NOT_A_CONTAINER_IMAGE'],
      platformShown: 'linux/amd64',
    },
  ];
  for (const c of verdicts) {
    for (const by of ['tag', 'digest'] as const) {
      it(`${c.spec}${c.platform ? ` for ${c.platform}` : ''} by ${by}: ${c.want.join(', ') || 'streamable'}`, async () => {
        const image =
          by === 'tag'
            ? `${AR}/${c.spec}:v1`
            : `${AR}/${c.spec}@${digests[c.spec]}`;
        const report = await checkImage(
          image,
          {...(c.platform && {platform: c.platform})},
          {
            registry: makeRegistry(parseSettings(env), {
              cache: new DigestCache(),
            }),
          },
        );
        assert.deepStrictEqual(
          report.reasons.map(r => r.code),
          c.want,
        );
        assert.strictEqual(report.streamable, c.want.length === 0);
        assert.strictEqual(report.digest, digests[c.spec]);
        assert.strictEqual(report.image, image);
        assert.strictEqual(report.platform, c.platformShown);
      });
    }
  }

  const regions = [
    {
      name: 'us multi-region image, job in us-east1',
      image: 'us-docker.pkg.dev/acme/demo/clean:v1',
      region: 'us-east1',
      want: [],
    },
    {
      name: 'us-central1 image, job in us-central1',
      image: `${AR}/clean:v1`,
      region: 'us-central1',
      want: [],
    },
    {
      name: 'us-central1 image, job in europe-west1',
      image: `${AR}/clean:v1`,
      region: 'europe-west1',
      want: ['LOCATION_MISMATCH'],
    },
    {
      name: 'us multi-region image, job in europe-west1',
      image: 'us-docker.pkg.dev/acme/demo/clean:v1',
      region: 'europe-west1',
      want: ['LOCATION_MISMATCH'],
    },
    {
      name: 'Container Registry name',
      image: 'gcr.io/acme/demo/clean:v1',
      region: 'us-central1',
      want: ['NOT_ARTIFACT_REGISTRY'],
    },
  ];
  for (const c of regions) {
    it(`--region: ${c.name}`, async () => {
      const {code, out} = await cli(
        'check',
        c.image,
        '--region',
        c.region,
        '--json',
      );
      const report = JSON.parse(out) as CheckReport;
      assert.deepStrictEqual(
        report.reasons.map(r => r.code),
        c.want,
      );
      assert.strictEqual(code, c.want.length === 0 ? 0 : 1);
    });
  }

  const exits = [
    {
      name: 'streamable image',
      args: [`${AR}/clean:v1`],
      code: 0,
      out: /^✔ streamable: /,
    },
    {
      name: 'index by digest',
      args: () => [`${AR}/index@${digests.index}`],
      code: 0,
      out: /platform: {3}linux\/amd64/,
    },
    {
      name: 'duplicate layer',
      args: [`${AR}/duplicate-layer:v1`],
      code: 1,
      out: /✘ DUPLICATE_LAYER: Layer 3 of 3/,
    },
    {
      name: 'empty layer',
      args: [`${AR}/empty-layer:v1`],
      code: 1,
      out: /✘ EMPTY_LAYER: Layer 2 of 3/,
    },
    {
      name: 'artifact',
      args: [`${AR}/artifact:v1`],
      code: 1,
      out: /NOT_A_CONTAINER_IMAGE/,
    },
    {
      name: 'no platform',
      args: [`${AR}/oci-index-without-amd64:v1`],
      code: 1,
      out: /platform: {3}\(none matched\)/,
    },
    {
      name: 'missing image',
      args: [`${AR}/missing:v1`],
      code: 2,
      err: /could not tell .* not found/,
    },
    {
      name: 'missing tag',
      args: [`${AR}/clean:nope`],
      code: 2,
      err: /MANIFEST_UNKNOWN/,
    },
    {
      name: 'bad reference',
      args: [`${AR}/Clean:v1`],
      code: 2,
      err: /must be lowercase/,
    },
    {
      name: 'bad platform',
      args: [`${AR}/clean:v1`, '--platform', 'amd64'],
      code: 2,
      err: /invalid platform "amd64"/,
    },
    {
      name: 'missing argument',
      args: [],
      code: 2,
      err: /missing required argument/,
    },
  ];
  for (const c of exits) {
    it(`exit ${c.code}: ${c.name}`, async () => {
      const args = typeof c.args === 'function' ? c.args() : c.args;
      const {code, out, err} = await cli('check', ...args);
      assert.strictEqual(code, c.code, out + err);
      if (c.out) assert.match(out, c.out);
      if (c.err) assert.match(err, c.err);
    });
  }

  it('--json prints exactly the contract shape', async () => {
    const {code, out} = await cli('check', `${AR}/empty-layer:v1`, '--json');
    assert.strictEqual(code, 1);
    const report = JSON.parse(out);
    assert.deepStrictEqual(Object.keys(report), [
      'image',
      'digest',
      'mediaType',
      'platform',
      'streamable',
      'reasons',
    ]);
    assert.deepStrictEqual(Object.keys(report.reasons[0]), ['code', 'message']);
    assert.strictEqual(
      report.mediaType,
      'application/vnd.docker.distribution.manifest.v2+json',
    );
  });

  it('exit 2 when the registry is unreachable', async () => {
    env = {PUSHRUN_REGISTRY_ENDPOINT: 'http://127.0.0.1:9'};
    try {
      const {code, err} = await cli('check', `${AR}/clean:v1`);
      assert.strictEqual(code, 2);
      assert.match(err, /could not reach 127\.0\.0\.1:9/);
    } finally {
      env = {PUSHRUN_REGISTRY_ENDPOINT: registry.current.baseUrl};
    }
  });

  it('a schema 1 manifest is not streamable', async () => {
    const server = await startSchema1Server();
    try {
      env = {PUSHRUN_REGISTRY_ENDPOINT: server.baseUrl};
      const {code, out} = await cli('check', `${AR}/old:v1`, '--json');
      assert.strictEqual(code, 1);
      const report = JSON.parse(out) as CheckReport;
      assert.deepStrictEqual(
        report.reasons.map(r => r.code),
        ['SCHEMA1_MANIFEST'],
      );
      assert.strictEqual(report.digest, server.digest);
    } finally {
      env = {PUSHRUN_REGISTRY_ENDPOINT: registry.current.baseUrl};
      await server.stop();
    }
  });

  it('a digest checked before makes no request', async () => {
    const reg = makeRegistry(parseSettings(env), {cache: new DigestCache()});
    const image = `${AR}/tiny-layer@${digests['tiny-layer']}`;
    await checkImage(image, {}, {registry: reg});
    const cold = reg.requestCount;
    await checkImage(image, {}, {registry: reg});
    assert.strictEqual(
      cold,
      5,
      'manifest, config, and its three layers (all small enough to open)',
    );
    assert.strictEqual(reg.requestCount, cold);
  });

  it('the compiled bin gives the same exit codes', function () {
    const bin = path.join(REPO_ROOT, 'bin/pushrun');
    if (
      !existsSync(path.join(REPO_ROOT, 'build/shared/cli/check_command.js'))
    ) {
      console.log(
        'SKIPPED: build/ has no check command; run `npm run build` first',
      );
      this.skip();
    }
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [bin, 'check', ...args], {
        env: {
          ...process.env,
          PUSHRUN_REGISTRY_ENDPOINT: registry.current.baseUrl,
        },
        encoding: 'utf8',
      });
    assert.strictEqual(run(`${AR}/clean:v1`).status, 0);
    assert.strictEqual(run(`${AR}/duplicate-layer:v1`).status, 1);
    const missing = run(`${AR}/missing:v1`);
    assert.strictEqual(missing.status, 2);
    assert.match(missing.stderr, /not found/);
  });
});
