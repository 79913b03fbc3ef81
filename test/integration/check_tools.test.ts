/**
 * `pushrun check` on images made the way people make them: umoci, buildah and skopeo from Debian,
 * pushed to a real docker-registry (one that takes schema 1 too, for skopeo's `--format v2s1`).
 * Each test needs its tools, and prints SKIPPED when one is missing.
 */
import * as assert from 'node:assert';
import * as path from 'node:path';
import {inspectImage, type CheckReport} from '../../shared/check';
import {isZeroTarDiffId} from '../../shared/image_facts';
import type {Registry} from '../../shared/registry';
import {runCli} from '../support/cli';
import {
  buildUmociImages,
  buildahMetadataCommit,
  makeToolBox,
  missingTools,
  requireTools,
  skopeoCopy,
  startSchema1Registry,
  type ToolBox,
} from '../support/image_tools';
import {pushImage, buildImage} from '../../sandbox/images';
import {useRegistry, type TestRegistry} from '../../sandbox/registry';

const AR_HOST = 'us-central1-docker.pkg.dev';
const AR = `${AR_HOST}/acme/tools`;

describe('pushrun check on images made by umoci, buildah and skopeo', function () {
  this.timeout(180_000);
  const registry = useRegistry();
  let box: ToolBox;
  let umoci: string;
  // The buildah image (a metadata-only commit on umoci's app), built once when buildah is there.
  let buildah: string | undefined;

  before(async function () {
    requireTools(this, ['umoci']);
    box = await makeToolBox();
    umoci = (await buildUmociImages(box)).layout;
  });
  after(async () => {
    await box?.cleanup();
  });

  const check = async (image: string, ...args: string[]) => {
    const r = await runCli(['check', image, '--json', ...args], {
      PUSHRUN_REGISTRY_ENDPOINT: registry.current.baseUrl,
    });
    assert.ok(r.code !== 2, r.err);
    return {code: r.code, report: JSON.parse(r.out) as CheckReport};
  };
  const codes = (r: CheckReport) => r.reasons.map(x => x.code);
  /** What inspecting an image in a layout on disk found (no registry is touched). */
  const facts = (dir: string, tag: string) =>
    inspectImage({kind: 'oci', dir, tag}, {}, {registry: {} as Registry});
  const metaImage = async (): Promise<string> => {
    buildah ??= await buildahMetadataCommit(box, `oci:${umoci}:app`, 'meta');
    return buildah;
  };

  it('umoci: an image with files and a config change streams', async () => {
    const {code, report} = await check(`oci:${umoci}:app`);
    assert.deepStrictEqual(codes(report), []);
    assert.strictEqual(code, 0);
    assert.deepStrictEqual(report.warnings, []);
  });

  it('umoci: a layer that only deletes a file (one .wh. entry) is not empty', async () => {
    const {code, report} = await check(`oci:${umoci}:whiteout`);
    assert.deepStrictEqual(codes(report), []);
    assert.strictEqual(code, 0);
    const f = await facts(umoci, 'whiteout');
    assert.strictEqual(f.layers.length, 2);
    assert.ok(
      !isZeroTarDiffId(f.layers[1].diffId!),
      'the whiteout is an entry: its diff_id is no empty tar',
    );
  });

  it('umoci: an image never repacked has no layers, and is not an image to run', async () => {
    const {code, report} = await check(`oci:${umoci}:no-layers`);
    assert.strictEqual(code, 1);
    assert.deepStrictEqual(codes(report), ['NOT_A_CONTAINER_IMAGE']);
    assert.strictEqual(report.platform, null);
    assert.match(
      report.reasons[0].message,
      new RegExp(`^Manifest ${report.digest} has no layers`),
    );
  });

  it('buildah: a commit after only `buildah config` adds an empty layer, on disk and pushed', async function () {
    requireTools(this, ['buildah', 'skopeo']);
    const dir = await metaImage();
    const local = await check(`oci:${dir}:meta`);
    assert.strictEqual(local.code, 1);
    assert.deepStrictEqual(codes(local.report), ['EMPTY_LAYER']);
    assert.match(
      local.report.reasons[0].message,
      new RegExp(
        `^Layer 2 of 2 \\(sha256:\\w+\\) of manifest ${local.report.digest} is empty`,
      ),
    );

    // skopeo compresses the layer on the way to the registry: a new digest, still empty.
    await skopeoCopy(
      box,
      `oci:${dir}:meta`,
      `docker://${registry.current.host}/acme/tools/meta:v1`,
    );
    const pushed = await check(`${AR}/meta:v1`, '--region', 'us-central1');
    assert.strictEqual(pushed.code, 1);
    assert.deepStrictEqual(codes(pushed.report), ['EMPTY_LAYER']);
    assert.match(pushed.report.reasons[0].message, /^Layer 2 of 2 /);
    assert.notStrictEqual(pushed.report.digest, local.report.digest);
  });

  describe('skopeo --format v2s1: a schema 1 image with an empty layer', () => {
    let schema1: TestRegistry | undefined;
    after(async () => {
      await schema1?.stop();
    });

    it('names schema 1, the empty layer that stays, and a conversion that works', async function () {
      requireTools(this, ['buildah', 'skopeo']);
      const dir = await metaImage();
      const registry = await startSchema1Registry();
      schema1 = registry;
      await skopeoCopy(
        box,
        `oci:${dir}:meta`,
        `docker://${registry.host}/acme/tools/old:v1`,
        '--format',
        'v2s1',
      );
      const env = {PUSHRUN_REGISTRY_ENDPOINT: registry.baseUrl};
      const before = await runCli(['check', `${AR}/old:v1`, '--json'], env);
      assert.strictEqual(before.code, 1, before.err);
      const report = JSON.parse(before.out) as CheckReport;
      assert.deepStrictEqual(codes(report), [
        'SCHEMA1_MANIFEST',
        'EMPTY_LAYER',
      ]);
      const [why, empty] = report.reasons.map(r => r.message);
      // umoci config's history entry became a throwaway layer: dropped, so not reported.
      assert.match(why, /drops its 1 throwaway layer/);
      assert.match(
        empty,
        /^Layer 2 of 2 \(sha256:\w+\) of manifest .*, after conversion to schema 2, is empty/,
      );
      const emptyBlob = /^Layer 2 of 2 \((sha256:\w+)\)/.exec(empty)![1];

      // Run the advised command as written, with the registry's own host for the image's.
      const advised = /`skopeo copy (--format v2s2) (\S+) (\S+)`/.exec(why);
      assert.ok(advised, why);
      const local = (ref: string) => ref.replace(AR_HOST, schema1!.host);
      await skopeoCopy(
        box,
        local(advised[2]),
        local(advised[3]),
        ...advised[1].split(' '),
      );
      const after = await runCli(['check', `${AR}/old:v1`, '--json'], env);
      const converted = JSON.parse(after.out) as CheckReport;
      assert.strictEqual(
        converted.mediaType,
        'application/vnd.docker.distribution.manifest.v2+json',
      );
      // What the check said would stay is what the user meets next.
      assert.deepStrictEqual(codes(converted), ['EMPTY_LAYER']);
      assert.ok(
        converted.reasons[0].message.startsWith(`Layer 2 of 2 (${emptyBlob}) `),
        converted.reasons[0].message,
      );
    });
  });

  it(`skopeo --dest-compress-format zstd on Node ${process.versions.node}`, async function () {
    requireTools(this, ['skopeo']);
    const dir = path.join(box.dir, 'zstd');
    await skopeoCopy(
      box,
      `oci:${umoci}:app`,
      `oci:${dir}:app`,
      '--dest-compress-format',
      'zstd',
    );
    const f = await facts(dir, 'app');
    assert.strictEqual(
      f.layers[0].mediaType,
      'application/vnd.oci.image.layer.v1.tar+zstd',
    );
    const {code, report} = await check(`oci:${dir}:app`);
    assert.strictEqual(code, 0);
    assert.deepStrictEqual(codes(report), []);
    // The diff_ids tell every layer's emptiness: none needs opening, on any Node.js.
    assert.deepStrictEqual(
      report.warnings.map(w => w.code),
      [],
    );
    assert.strictEqual(f.layers[0].entries, undefined, 'not opened');

    if (missingTools(['buildah']).length) return;
    // The empty layer of a metadata-only commit, zstd-compressed: found on Node 20 by its diff_id.
    await skopeoCopy(
      box,
      `oci:${await metaImage()}:meta`,
      `oci:${dir}:meta`,
      '--dest-compress-format',
      'zstd',
    );
    const meta = await check(`oci:${dir}:meta`);
    assert.strictEqual(meta.code, 1);
    assert.deepStrictEqual(codes(meta.report), ['EMPTY_LAYER']);
    // Its first layer holds files, which its diff_id says: nothing is left unread.
    assert.deepStrictEqual(
      meta.report.warnings.map(w => `${w.code} ${w.message.slice(0, 11)}`),
      [],
    );
  });

  it('skopeo copy --all: an attested index keeps its attestations, which are never images', async function () {
    requireTools(this, ['skopeo']);
    const index = await buildImage('attested-index');
    await pushImage(
      registry.current.baseUrl,
      'acme/tools/attested',
      'v1',
      'attested-index',
    );
    const dir = path.join(box.dir, 'attested');
    await skopeoCopy(
      box,
      `docker://${registry.current.host}/acme/tools/attested:v1`,
      `oci:${dir}:v1`,
      '--all',
    );
    const image = await check(`oci:${dir}:v1`);
    assert.strictEqual(image.code, 0);
    assert.strictEqual(image.report.platformDigest, index.children[0].digest);
    const asked = await check(`oci:${dir}:v1`, '--platform', 'unknown/unknown');
    assert.strictEqual(asked.code, 1);
    assert.deepStrictEqual(codes(asked.report), ['NOT_A_CONTAINER_IMAGE']);
    assert.match(
      asked.report.reasons[0].message,
      /is a build attestation for the linux\/amd64 image/,
    );
  });
});
