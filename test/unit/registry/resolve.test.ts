import * as assert from 'node:assert';
import {parseManifest} from '../../../shared/registry/manifest';
import type {ContentStore} from '../../../shared/registry';
import {resolveImage} from '../../../shared/registry/resolve';
import {type BuiltImage} from '../../../sandbox/images';
import {
  buildAttestedIndex,
  buildLayeredImage,
  sha256,
} from '../../../sandbox/image_builder';

/** A content store over built images, from memory. */
function storeOf(top: BuiltImage): ContentStore {
  const manifests = new Map<string, BuiltImage>();
  const blobs = new Map<string, Buffer>();
  const add = (img: BuiltImage) => {
    manifests.set(img.digest, img);
    img.blobs.forEach(b => blobs.set(b.digest, b.bytes));
    img.children.forEach(add);
  };
  add(top);
  return {
    async manifest(reference) {
      const img = manifests.get(reference === 'v1' ? top.digest : reference)!;
      return parseManifest(
        img.manifest,
        {contentType: img.mediaType, digest: img.digest},
        reference,
      );
    },
    async blob(digest) {
      return blobs.get(digest)!;
    },
  };
}

/** The attested index with its entries reordered, attestations first (any order is allowed). */
function attestationsFirst(index: BuiltImage, claim?: string): BuiltImage {
  const json = JSON.parse(index.manifest.toString()) as {
    manifests: {platform: {os: string; architecture: string}}[];
  };
  const atts = json.manifests.filter(m => m.platform.os === 'unknown');
  if (claim) {
    // Some tools write the subject's platform on the attestation entry instead.
    const [os, architecture] = claim.split('/');
    atts.forEach(m => (m.platform = {os, architecture}));
  }
  json.manifests = [...atts, ...json.manifests.filter(m => !atts.includes(m))];
  const manifest = Buffer.from(JSON.stringify(json));
  return {...index, manifest, digest: sha256(manifest)};
}

describe('resolveImage over an index with attestations', () => {
  let amd64: BuiltImage;
  let arm64: BuiltImage;
  let index: BuiltImage;
  before(async () => {
    amd64 = await buildLayeredImage([{a: '1'}], {oci: true});
    arm64 = await buildLayeredImage([{a: '2'}], {
      oci: true,
      architecture: 'arm64',
    });
    index = buildAttestedIndex([
      {image: amd64, architecture: 'amd64'},
      {image: arm64, architecture: 'arm64'},
    ]);
  });

  const cases = [
    {
      name: 'linux/amd64 picks the image',
      platform: 'linux/amd64',
      index: () => index,
      want: () => amd64.digest,
    },
    {
      name: 'linux/amd64 picks the image when attestations come first',
      platform: 'linux/amd64',
      index: () => attestationsFirst(index),
      want: () => amd64.digest,
    },
    {
      name: 'an attestation entry claiming linux/amd64 never wins over the image',
      platform: 'linux/amd64',
      index: () => attestationsFirst(index, 'linux/amd64'),
      want: () => amd64.digest,
    },
    {
      name: 'unknown/unknown reaches an attestation, so the verdict can say what it is',
      platform: 'unknown/unknown',
      index: () => index,
      want: () => index.children[2].digest,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const top = c.index();
      const r = await resolveImage(storeOf(top), 'v1', c.platform);
      assert.strictEqual(r.manifest?.digest, c.want());
      assert.strictEqual(r.entry?.digest, c.want());
      // Attestations are never offered as a platform, whatever they claim.
      assert.deepStrictEqual(r.availablePlatforms, [
        'linux/amd64',
        'linux/arm64',
      ]);
    });
  }

  it('reports no match for a platform only attestations would have', async () => {
    const r = await resolveImage(storeOf(index), 'v1', 'linux/s390x');
    assert.strictEqual(r.platformMatched, false);
    assert.strictEqual(r.manifest, undefined);
  });
});
