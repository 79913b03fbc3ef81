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
import {streamingVerdict} from '../../../shared/verdict';
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
      assert.deepStrictEqual(
        streamingVerdict(facts).reasons.map(r => r.code),
        c.want,
      );
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
