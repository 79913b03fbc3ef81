import * as assert from 'node:assert';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import * as path from 'node:path';
import * as sinon from 'sinon';
import {inspectImage} from '../../../shared/check';
import {
  openOciLayout,
  RegistryError,
  type Registry,
} from '../../../shared/registry';
import {ZSTD_SUPPORTED} from '../../../shared/registry/layer_contents';
import {isZeroTarDiffId} from '../../../shared/image_facts';
import {streamingVerdict, type WarningCode} from '../../../shared/verdict';
import {type ImageFacts} from '../../../shared/image_facts';
import {writeOciLayout, type ImageSpec} from '../../../sandbox/images';

describe('OCI image layout reader', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pushrun-oci-'));
  });
  afterEach(async () => {
    sinon.restore();
    await rm(dir, {recursive: true, force: true});
  });

  // A registry that must not be touched: layouts are read from disk.
  const noRegistry = {} as Registry;

  const cases: {
    name: string;
    spec: ImageSpec;
    tag?: string;
    source?: string;
    platform?: string;
    want: string[];
    warnings?: WarningCode[];
    /** More to assert of the facts. */
    facts?: (facts: ImageFacts) => void;
  }[] = [
    {name: 'a clean OCI image by tag', spec: 'oci', tag: 'v1', want: []},
    {name: 'the only image, untagged', spec: 'clean', want: []},
    {
      name: 'an image with an empty uncompressed layer',
      spec: 'empty-layer-uncompressed',
      tag: 'v1',
      want: ['EMPTY_LAYER'],
    },
    {
      name: 'an image with a re-gzipped empty layer',
      spec: 'empty-layer-regzipped',
      tag: 'v1',
      want: ['EMPTY_LAYER'],
    },
    {
      name: 'an image with a one-byte file layer',
      spec: 'tiny-layer',
      tag: 'v1',
      want: [],
    },
    {
      name: 'an index resolved to linux/arm64/v8',
      spec: 'index',
      tag: 'multi',
      platform: 'linux/arm64/v8',
      want: [],
    },
    {
      name: 'an index without linux/amd64',
      spec: 'oci-index-without-amd64',
      tag: 'v1',
      want: ['NO_MATCHING_PLATFORM'],
    },
    {
      name: 'a non-image artifact',
      spec: 'artifact',
      tag: 'v1',
      want: ['NOT_A_CONTAINER_IMAGE'],
    },
    {
      name: 'an index with BuildKit attestations: the image, and only images offered',
      spec: 'attested-index',
      tag: 'v1',
      want: [],
      facts: f => {
        assert.deepStrictEqual(f.availablePlatforms, [
          'linux/amd64',
          'linux/arm64',
        ]);
        assert.strictEqual(f.platform, 'linux/amd64');
        // Judged by the config's diff_ids: no layer needed opening.
        assert.ok(f.layers.every(l => l.diffId && l.entries === undefined));
      },
    },
    {
      name: 'an index with BuildKit attestations, asked for unknown/unknown',
      spec: 'attested-index',
      tag: 'v1',
      platform: 'unknown/unknown',
      want: ['NOT_A_CONTAINER_IMAGE'],
      facts: f => {
        assert.strictEqual(f.notImage, 'attestation');
        assert.strictEqual(f.attestation?.subjectPlatform, 'linux/amd64');
        assert.deepStrictEqual(f.attestation?.predicateTypes, [
          'https://spdx.dev/Document',
          'https://slsa.dev/provenance/v0.2',
        ]);
        assert.deepStrictEqual(f.layers, []);
      },
    },
    {
      name: 'a layer holding one whiteout is not empty',
      spec: 'whiteout-only',
      tag: 'v1',
      want: [],
      facts: f => assert.ok(!isZeroTarDiffId(f.layers[2].diffId!)),
    },
    {
      name: 'a manifest with no layers',
      spec: 'no-layers',
      tag: 'v1',
      want: ['NOT_A_CONTAINER_IMAGE'],
      facts: f => assert.strictEqual(f.notImage, 'no-layers'),
    },
    {
      name: 'the same tar once gzipped and once uncompressed',
      spec: 'duplicate-uncompressed',
      tag: 'v1',
      want: ['DUPLICATE_LAYER'],
    },
    {
      name: `an empty zstd layer behind padding (Node ${process.versions.node})`,
      spec: 'zstd-empty-padded',
      tag: 'v1',
      want: ['EMPTY_LAYER'],
    },
    {
      name: `a one-file zstd layer (Node ${process.versions.node})`,
      spec: 'zstd-tiny-layer',
      tag: 'v1',
      want: [],
      warnings: [],
      // Its diff_id says it is no empty tar, so it is not opened, on any Node.js.
      facts: f => assert.strictEqual(f.layers[1].entries, undefined),
    },
    {
      name: `a one-file zstd layer no diff_id describes (Node ${process.versions.node})`,
      spec: 'zstd-tiny-no-diff-ids',
      tag: 'v1',
      want: [],
      warnings: ZSTD_SUPPORTED ? [] : ['LAYER_UNREAD'],
      facts: f =>
        assert.strictEqual(f.layers[1].entries, ZSTD_SUPPORTED ? 1 : undefined),
    },
    {
      name: `a zstd layer in two frames (Node ${process.versions.node})`,
      spec: 'zstd-multi-frame',
      tag: 'v1',
      want: [],
      warnings: [],
      // Its diff_id says it is no empty tar, so it is not opened, on any Node.js.
      facts: f => assert.strictEqual(f.layers[1].entries, undefined),
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const image = await writeOciLayout(dir, c.spec, c.tag);
      const facts = await inspectImage(
        {kind: 'oci', dir, ...(c.tag && {tag: c.tag})},
        {...(c.platform && {platform: c.platform})},
        {registry: noRegistry},
      );
      assert.strictEqual(facts.digest, image.digest);
      assert.strictEqual(facts.ref, undefined);
      const verdict = streamingVerdict(facts);
      assert.deepStrictEqual(
        verdict.reasons.map(r => r.code),
        c.want,
      );
      assert.deepStrictEqual(
        verdict.warnings?.map(w => w.code),
        c.warnings ?? [],
      );
      c.facts?.(facts);
    });
  }

  it('lists its tags and names them when one is missing', async () => {
    await writeOciLayout(dir, 'clean', 'v1');
    const layout = await openOciLayout(dir);
    assert.deepStrictEqual(layout.tags, ['v1']);
    await assert.rejects(
      layout.resolveImage('v2'),
      /has no image tagged "v2" \(tags: v1\)/,
    );
  });

  it('refuses a directory that is not a layout', async () => {
    await assert.rejects(
      openOciLayout(dir),
      (e: unknown) =>
        e instanceof RegistryError &&
        e.status === 404 &&
        /no oci-layout file/.test(e.message),
    );
  });

  it('refuses a blob whose bytes do not match its digest', async () => {
    const image = await writeOciLayout(dir, 'clean', 'v1');
    const config = image.blobs[0].digest.split(':')[1];
    await writeFile(path.join(dir, 'blobs', 'sha256', config), 'tampered');
    const layout = await openOciLayout(dir);
    await assert.rejects(
      layout.resolveImage('v1'),
      /does not match its digest/,
    );
  });
});
