import * as assert from 'node:assert';
import {spawnSync} from 'node:child_process';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import * as path from 'node:path';
import type {CheckReport} from '../../../shared/check';
import {registerCheckCommand} from '../../../shared/cli/check_command';
import {ZSTD_SUPPORTED} from '../../../shared/registry/layer_contents';
import {runModule} from '../../support/cli';
import {repoRoot} from '../../../sandbox/functions';
import {writeOciLayout, type ImageSpec} from '../../../sandbox/images';

// Nothing listens here: a region error must come before any registry request.
const NO_REGISTRY = {PUSHRUN_REGISTRY_ENDPOINT: 'http://127.0.0.1:9'};
const AR = 'us-central1-docker.pkg.dev/acme/demo/app:v1';

const check = (...args: string[]) =>
  runModule(registerCheckCommand, ['check', ...args], NO_REGISTRY);

describe('pushrun check', () => {
  describe('--region that is not a region: exit 2, with the region to write', () => {
    const cases = [
      {region: 'us-centrall1', says: /did you mean us-central1\?/},
      {region: 'us-central1-a', says: /is a zone, not a region.*us-central1/},
      {region: 'US-CENTRAL1', says: /lowercase; use us-central1/},
      {region: 'us', says: /multi-region.*such as us-central1/},
    ];
    for (const c of cases) {
      for (const json of [false, true]) {
        it(`${c.region}${json ? ' --json' : ''}`, async () => {
          const {code, out, err} = await check(
            AR,
            '--region',
            c.region,
            ...(json ? ['--json'] : []),
          );
          assert.strictEqual(code, 2, err);
          assert.strictEqual(out, '');
          assert.match(err, /^pushrun check: --region "/);
          assert.match(err, c.says);
          assert.doesNotMatch(err, /could not reach/);
        });
      }
    }
  });

  describe('an OCI layout on disk', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'pushrun-check-'));
    });
    afterEach(() => rm(dir, {recursive: true, force: true}));

    const json = async (spec: ImageSpec, ...args: string[]) => {
      await writeOciLayout(dir, spec, 'v1');
      const r = await check(`oci:${dir}:v1`, '--json', ...args);
      return {...r, report: JSON.parse(r.out) as CheckReport};
    };

    it('--region is said to be ignored, in the text and in --json', async () => {
      await writeOciLayout(dir, 'oci', 'v1');
      const text = await check(`oci:${dir}:v1`, '--region', 'europe-west1');
      assert.strictEqual(text.code, 0);
      assert.match(text.out, /^✔ streamable \(1 warning below\): /);
      assert.match(
        text.out,
        /⚠ REGION_NOT_CHECKED: The region europe-west1 was not compared/,
      );
      const {code, report} = await json('oci', '--region', 'europe-west1');
      assert.strictEqual(code, 0);
      assert.deepStrictEqual(
        report.warnings.map(w => w.code),
        ['REGION_NOT_CHECKED'],
      );
    });

    it(`a zstd layer on Node ${process.versions.node}: a layer no diff_id describes is opened, or said not to be`, async () => {
      const {code, report, out} = await json('zstd-tiny-no-diff-ids');
      assert.strictEqual(code, 0, out);
      assert.strictEqual(report.streamable, true);
      assert.deepStrictEqual(
        report.warnings.map(w => w.code),
        ZSTD_SUPPORTED ? [] : ['LAYER_UNREAD'],
      );
      if (!ZSTD_SUPPORTED) {
        assert.match(
          report.warnings[0].message,
          /^Layer 2 of 2 \(sha256:[0-9a-f]{64}\) of manifest sha256:[0-9a-f]{64} could not be read: zstd layers open only on Node\.js 22\.15/,
        );
        const text = await check(`oci:${dir}:v1`);
        assert.match(text.out, /⚠ LAYER_UNREAD: Layer 2 of 2/);
      }
    });

    it('an index names the child it judged, in the text and in --json', async () => {
      const image = await writeOciLayout(dir, 'index', 'v1');
      const arm = image.children[1].digest;
      const text = await check(`oci:${dir}:v1`, '--platform', 'linux/arm64');
      assert.match(
        text.out,
        new RegExp(`judged: {5}${arm} \\(the index's linux/arm64 entry\\)`),
      );
      const {report} = await json('index', '--platform', 'linux/arm64');
      assert.strictEqual(report.platformDigest, arm);
      assert.strictEqual(report.digest, image.digest);
    });

    it('--json names a single manifest as the one judged, with no warnings', async () => {
      const {report} = await json('empty-layer');
      assert.strictEqual(report.platformDigest, report.digest);
      assert.deepStrictEqual(report.warnings, []);
      assert.match(report.reasons[0].message, new RegExp(report.digest));
    });
  });

  it('loads only what check needs: no other command, no Google client', () => {
    const file = path.join(repoRoot(), 'build/shared/cli/check_command.js');
    const probe = `require(${JSON.stringify(file)});
      const pkgs = new Set(Object.keys(require.cache)
        .filter(f => f.includes('node_modules'))
        .map(f => f.split('node_modules/').pop().split('/').slice(0, f.split('node_modules/').pop().startsWith('@') ? 2 : 1).join('/')));
      const own = Object.keys(require.cache).filter(f => !f.includes('node_modules')).map(f => path.relative(${JSON.stringify(repoRoot())}, f));
      console.log(JSON.stringify({pkgs: [...pkgs], own}));`;
    const r = spawnSync(
      process.execPath,
      ['-e', `const path = require('node:path');${probe}`],
      {encoding: 'utf8'},
    );
    assert.strictEqual(r.status, 0, r.stderr);
    const loaded = JSON.parse(r.stdout) as {pkgs: string[]; own: string[]};
    // tar-stream and google-auth-library load on first use: a layer to open, a token to get.
    assert.deepStrictEqual(loaded.pkgs, []);
    assert.deepStrictEqual(
      loaded.own.filter(f =>
        /_command\.js$|\/(plan|launch|deps|batch|config\/)/.test(f),
      ),
      ['build/shared/cli/check_command.js'],
    );
  });
});
