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
import {ZSTD_SUPPORTED} from '../../shared/registry/layer_contents';
import {
  IMAGE_SPECS,
  buildImage,
  pushBuiltImage,
  pushImage,
  type ImageSpec,
} from '../../sandbox/images';
import {buildIndexImage, buildLayeredImage} from '../../sandbox/image_builder';
import {startSchema1Server} from '../../sandbox/schema1_server';
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
      // An artifact has no platform: the one asked for is not shown as its own.
      spec: 'artifact',
      want: ['NOT_A_CONTAINER_IMAGE'],
      platformShown: null,
    },
    {spec: 'attested-index', want: [], platformShown: 'linux/amd64'},
    {
      spec: 'attested-index',
      platform: 'linux/arm64',
      want: [],
      platformShown: 'linux/arm64',
    },
    {
      spec: 'attested-index',
      platform: 'unknown/unknown',
      want: ['NOT_A_CONTAINER_IMAGE'],
      platformShown: null,
    },
    {spec: 'whiteout-only', want: [], platformShown: 'linux/amd64'},
    {spec: 'no-layers', want: ['NOT_A_CONTAINER_IMAGE'], platformShown: null},
    {
      spec: 'duplicate-uncompressed',
      want: ['DUPLICATE_LAYER'],
      platformShown: 'linux/amd64',
    },
    {spec: 'zstd-tiny-layer', want: [], platformShown: 'linux/amd64'},
    {
      spec: 'zstd-empty-padded',
      want: ['EMPTY_LAYER'],
      platformShown: 'linux/amd64',
    },
    {spec: 'zstd-multi-frame', want: [], platformShown: 'linux/amd64'},
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

  it('--json prints the contract shape, then its additions', async () => {
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
      'platformDigest',
      'warnings',
    ]);
    assert.deepStrictEqual(report.warnings, []);
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

  it('a schema 1 manifest is not streamable, and lists the layers that stay after converting', async () => {
    const server = await startSchema1Server();
    try {
      env = {PUSHRUN_REGISTRY_ENDPOINT: server.baseUrl};
      const {code, out} = await cli('check', `${AR}/old:v1`, '--json');
      assert.strictEqual(code, 1);
      const report = JSON.parse(out) as CheckReport;
      assert.deepStrictEqual(
        report.reasons.map(r => r.code),
        ['SCHEMA1_MANIFEST', 'EMPTY_LAYER'],
      );
      assert.strictEqual(report.digest, server.digest);
      const [schema1, empty] = report.reasons.map(r => r.message);
      assert.match(
        schema1,
        new RegExp(
          `skopeo copy --format v2s2 docker://${AR}/old:v1 docker://${AR}/old:v1`,
        ),
      );
      assert.match(schema1, /drops its 1 throwaway layer/);
      // The throwaway layer is dropped by the conversion; the real empty one stays.
      assert.match(
        empty,
        new RegExp(
          `^Layer 2 of 2 \\(${server.emptyLayer}\\) of manifest ${server.digest}, after conversion to schema 2, is empty`,
        ),
      );
    } finally {
      env = {PUSHRUN_REGISTRY_ENDPOINT: registry.current.baseUrl};
      await server.stop();
    }
  });

  it('an attestation checked by digest is not an image, and unknown/unknown is never offered', async () => {
    const index = await buildImage('attested-index');
    const attestation = index.children[2].digest;
    const byDigest = await cli(
      'check',
      `${AR}/attested-index@${attestation}`,
      '--json',
    );
    assert.strictEqual(byDigest.code, 1);
    const report = JSON.parse(byDigest.out) as CheckReport;
    assert.deepStrictEqual(
      report.reasons.map(r => r.code),
      ['NOT_A_CONTAINER_IMAGE'],
    );
    assert.strictEqual(report.platform, null);
    assert.match(
      report.reasons[0].message,
      new RegExp(`^Manifest ${attestation} is a build attestation`),
    );
    assert.doesNotMatch(report.reasons[0].message, /--platform unknown/);

    const forPlatform = (platform: string) =>
      cli('check', `${AR}/attested-index:v1`, '--platform', platform);
    const noMatch = await forPlatform('linux/s390x');
    assert.strictEqual(noMatch.code, 1);
    assert.match(noMatch.out, /it offers linux\/amd64, linux\/arm64\./);
    assert.doesNotMatch(noMatch.out, /unknown/);

    const asked = await forPlatform('unknown/unknown');
    assert.strictEqual(asked.code, 1);
    assert.match(
      asked.out,
      new RegExp(
        `✘ NOT_A_CONTAINER_IMAGE: ${attestation} \\(the unknown/unknown entry of index ${digests['attested-index']}\\) is a build attestation for the linux/amd64 image ${index.children[0].digest}`,
      ),
    );
  });

  it("an index's reasons name the child they judged, in text and --json", async () => {
    const amd64 = await buildLayeredImage([{'bin/app': 'amd\n'}]);
    const arm64 = await buildLayeredImage([{'bin/app': 'arm\n'}, {}], {
      architecture: 'arm64',
    });
    const index = buildIndexImage([
      {image: amd64, architecture: 'amd64'},
      {image: arm64, architecture: 'arm64', variant: 'v8'},
    ]);
    await pushBuiltImage(
      registry.current.baseUrl,
      'acme/demo/multi',
      index,
      'v1',
    );
    const image = `${AR}/multi:v1`;
    assert.strictEqual((await cli('check', image)).code, 0);
    const json = await cli(
      'check',
      image,
      '--platform',
      'linux/arm64',
      '--json',
    );
    assert.strictEqual(json.code, 1);
    const report = JSON.parse(json.out) as CheckReport;
    assert.strictEqual(report.digest, index.digest);
    assert.strictEqual(report.platformDigest, arm64.digest);
    const emptyLayer = (
      JSON.parse(arm64.manifest.toString()) as {layers: {digest: string}[]}
    ).layers[1].digest;
    const named = `Layer 2 of 2 (${emptyLayer}) of the linux/arm64 image ${arm64.digest} of index ${index.digest} is empty`;
    assert.ok(
      report.reasons[0].message.startsWith(named),
      report.reasons[0].message,
    );
    const text = await cli('check', image, '--platform', 'linux/arm64');
    assert.ok(text.out.includes(`✘ EMPTY_LAYER: ${named}`), text.out);
    assert.ok(text.out.includes(`judged:     ${arm64.digest}`), text.out);
  });

  it(`zstd layers on Node ${process.versions.node}: judged by diff_id, opened only when none says`, async () => {
    // The config's diff_id says the layer is no empty tar: no need to open it, on any Node.js.
    const tiny = await cli('check', `${AR}/zstd-tiny-layer:v1`, '--json');
    assert.strictEqual(tiny.code, 0);
    assert.deepStrictEqual((JSON.parse(tiny.out) as CheckReport).warnings, []);
    // With no diff_id, it must be opened: on Node.js before 22.15 it cannot be, and that is said.
    const bare = await cli('check', `${AR}/zstd-tiny-no-diff-ids:v1`, '--json');
    assert.strictEqual(bare.code, 0);
    assert.deepStrictEqual(
      (JSON.parse(bare.out) as CheckReport).warnings.map(w => w.code),
      ZSTD_SUPPORTED ? [] : ['LAYER_UNREAD'],
    );
    const text = await cli('check', `${AR}/zstd-tiny-no-diff-ids:v1`);
    if (ZSTD_SUPPORTED) assert.doesNotMatch(text.out, /⚠/);
    else
      assert.match(
        text.out,
        /^✔ streamable \(1 warning below\): [^]*⚠ LAYER_UNREAD: Layer 2 of 2 .* could not be read: zstd layers open only on Node\.js 22\.15/,
      );
    // An empty tar behind zstd padding is found on either, by its diff_id.
    const padded = await cli('check', `${AR}/zstd-empty-padded:v1`);
    assert.strictEqual(padded.code, 1);
    assert.match(padded.out, /✘ EMPTY_LAYER: Layer 2 of 3/);
  });

  it('a region that does not exist is a usage error, before any request', async () => {
    for (const [region, says] of [
      ['us-centrall1', /did you mean us-central1\?/],
      ['us-central1-a', /zone, not a region.*us-central1/],
      ['US-CENTRAL1', /lowercase; use us-central1/],
    ] as const) {
      const {code, out, err} = await cli(
        'check',
        `${AR}/clean:v1`,
        '--region',
        region,
        '--json',
      );
      assert.strictEqual(code, 2, err);
      assert.strictEqual(out, '');
      assert.match(err, says);
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
      2,
      'manifest and config: the diff_ids say no layer is empty, so none is opened',
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
