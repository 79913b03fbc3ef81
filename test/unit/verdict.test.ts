import * as assert from 'node:assert';
import {imageFacts} from '../support/facts';
import {parseImageRef} from '../../shared/image_ref';
import {createHash} from 'node:crypto';
import {
  streamingVerdict,
  type ReasonCode,
  type WarningCode,
} from '../../shared/verdict';
import {
  MAX_ZERO_TAR_BYTES,
  isEmptyLayer,
  isZeroTarDiffId,
  type ImageFacts,
  type JobFacts,
  type LayerFacts,
} from '../../shared/image_facts';

const d = (c: string) => 'sha256:' + c.repeat(64);
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const GZIPPED_EMPTY =
  'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';
const BUILDKIT_EMPTY =
  'sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1';
const EMPTY_DIFF_ID =
  'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

function layer(
  index: number,
  digest: string,
  extra: Partial<LayerFacts> = {},
): LayerFacts {
  return {
    index,
    digest,
    size: 5000,
    mediaType: LAYER,
    diffId: d(String.fromCharCode(97 + index)),
    ...extra,
  };
}

function facts(image: string, extra: Partial<ImageFacts> = {}): ImageFacts {
  return imageFacts(parseImageRef(image), d('1'), {
    layers: [layer(0, d('a')), layer(1, d('b'))],
    ...extra,
  });
}

const AR = 'us-central1-docker.pkg.dev/acme/demo/app:v1';
const INDEX = d('9');
const ARM_CHILD = d('7');
const zeros = (n: number) =>
  'sha256:' + createHash('sha256').update(Buffer.alloc(n)).digest('hex');

/** Facts of the linux/arm64 child of index INDEX, as inspectImage gives them. */
function armChild(extra: Partial<ImageFacts> = {}): ImageFacts {
  return facts(AR, {
    digest: INDEX,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    wantedPlatform: 'linux/arm64',
    platform: 'linux/arm64',
    platformDigest: ARM_CHILD,
    availablePlatforms: ['linux/amd64', 'linux/arm64'],
    ...extra,
  });
}

/** An attestation manifest's facts: resolved from its index for unknown/unknown, or by digest. */
function attestation(fromIndex: boolean): ImageFacts {
  return facts(AR, {
    ...(fromIndex
      ? {
          digest: INDEX,
          wantedPlatform: 'unknown/unknown',
          availablePlatforms: ['linux/amd64', 'linux/arm64'],
        }
      : {digest: d('8'), platformMatched: false}),
    platform: 'unknown/unknown',
    platformDigest: d('8'),
    containerImage: false,
    notImage: 'attestation',
    artifactType: 'application/vnd.in-toto+json',
    attestation: {
      ...(fromIndex && {subject: d('6'), subjectPlatform: 'linux/amd64'}),
      predicateTypes: ['https://spdx.dev/Document'],
    },
    layers: [],
  });
}

const SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

const IMAGE_CODES: readonly ReasonCode[] = [
  'SCHEMA1_MANIFEST',
  'EMPTY_LAYER',
  'DUPLICATE_LAYER',
  'NO_MATCHING_PLATFORM',
  'NOT_A_CONTAINER_IMAGE',
];

describe('streamingVerdict', () => {
  const cases: {
    name: string;
    facts: ImageFacts;
    job?: JobFacts;
    want: ReasonCode[];
    mention?: RegExp;
    /** Said by no reason. */
    never?: RegExp;
    warnings?: WarningCode[];
  }[] = [
    {name: 'a clean Artifact Registry image', facts: facts(AR), want: []},
    {
      name: 'a clean image with the same region',
      facts: facts(AR),
      job: {region: 'us-central1'},
      want: [],
    },
    {
      name: 'Container Registry',
      facts: facts('gcr.io/acme/app:v1'),
      want: ['NOT_ARTIFACT_REGISTRY'],
      mention: /Container Registry \(gcr\.io\)/,
    },
    {
      name: 'Docker Hub',
      facts: facts('ubuntu'),
      want: ['NOT_ARTIFACT_REGISTRY'],
      mention: /docker\.io/,
    },
    {
      name: 'an OCI layout on disk is judged on content only, and says its region is not checked',
      facts: {...facts(AR), ref: undefined, source: {kind: 'oci', dir: '/x'}},
      job: {region: 'europe-west1'},
      want: [],
      warnings: ['REGION_NOT_CHECKED'],
    },
    {
      name: 'region outside the image region',
      facts: facts(AR),
      job: {region: 'europe-west1'},
      want: ['LOCATION_MISMATCH'],
      mention: /stored in us-central1 but the job runs in europe-west1/,
    },
    {
      name: 'multi-region us with us-east1',
      facts: facts('us-docker.pkg.dev/a/b/c'),
      job: {region: 'us-east1'},
      want: [],
    },
    {
      name: 'multi-region us with europe-west1',
      facts: facts('us-docker.pkg.dev/a/b/c'),
      job: {region: 'europe-west1'},
      want: ['LOCATION_MISMATCH'],
      mention: /multi-region us/,
    },
    {
      name: 'no region given',
      facts: facts('us-docker.pkg.dev/a/b/c'),
      want: [],
    },
    {
      name: 'schema 1',
      facts: facts(AR, {schema1: true, platformMediaType: SCHEMA1}),
      want: ['SCHEMA1_MANIFEST'],
      // The conversion that works, in place; crane copy keeps schema 1.
      mention:
        /schema 1 .*`skopeo copy --format v2s2 docker:\/\/us-central1-docker\.pkg\.dev\/acme\/demo\/app:v1 docker:\/\/us-central1-docker\.pkg\.dev\/acme\/demo\/app:v1`/,
      never: /or `crane copy`/,
    },
    {
      name: 'schema 1 by digest: the destination needs a tag',
      facts: facts(`us-central1-docker.pkg.dev/acme/demo/app@${d('1')}`, {
        schema1: true,
        platformMediaType: SCHEMA1,
      }),
      want: ['SCHEMA1_MANIFEST'],
      mention:
        /docker:\/\/us-central1-docker\.pkg\.dev\/acme\/demo\/app@sha256:1+ docker:\/\/us-central1-docker\.pkg\.dev\/acme\/demo\/app:TAG`/,
    },
    {
      name: 'schema 1 with an empty and a duplicate layer that stay after conversion',
      facts: facts(AR, {
        schema1: true,
        platformMediaType: SCHEMA1,
        schema1Throwaway: 2,
        layers: [
          layer(0, d('a'), {diffId: undefined, entries: 3}),
          layer(1, d('b'), {diffId: undefined, entries: 0}),
          layer(2, d('a'), {diffId: undefined}),
        ],
      }),
      want: ['SCHEMA1_MANIFEST', 'EMPTY_LAYER', 'DUPLICATE_LAYER'],
      mention:
        /Layer 2 of 3 \(sha256:b+\) of manifest sha256:1+, after conversion to schema 2, is empty/,
    },
    {
      name: 'schema 1: throwaway layers are said to be dropped, not reported',
      facts: facts(AR, {
        schema1: true,
        platformMediaType: SCHEMA1,
        schema1Throwaway: 1,
        layers: [layer(0, d('a'), {diffId: undefined, entries: 3})],
      }),
      want: ['SCHEMA1_MANIFEST'],
      mention: /drops its 1 throwaway layer \(history marked throwaway\)\./,
    },
    {
      name: 'a known gzipped empty layer',
      facts: facts(AR, {
        layers: [layer(0, d('a')), layer(1, GZIPPED_EMPTY), layer(2, d('c'))],
      }),
      want: ['EMPTY_LAYER'],
      mention: new RegExp(`Layer 2 of 3 \\(${GZIPPED_EMPTY}\\)`),
    },
    {
      name: 'the BuildKit empty layer',
      facts: facts(AR, {layers: [layer(0, d('a')), layer(1, BUILDKIT_EMPTY)]}),
      want: ['EMPTY_LAYER'],
    },
    {
      name: 'an empty layer known by diff_id only',
      facts: facts(AR, {
        layers: [layer(0, d('a')), layer(1, d('b'), {diffId: EMPTY_DIFF_ID})],
      }),
      want: ['EMPTY_LAYER'],
    },
    {
      name: 'an opened layer with no entries',
      facts: facts(AR, {
        layers: [layer(0, d('a')), layer(1, d('b'), {size: 40, entries: 0})],
      }),
      want: ['EMPTY_LAYER'],
      mention: /Layer 2 of 2/,
    },
    {
      name: 'a tiny layer with one file is not empty',
      facts: facts(AR, {
        layers: [layer(0, d('a')), layer(1, d('b'), {size: 120, entries: 1})],
      }),
      want: [],
    },
    {
      name: 'an empty layer of an index child names the child and the index',
      facts: armChild({
        layers: [layer(0, d('a')), layer(1, d('b'), {size: 40, entries: 0})],
      }),
      want: ['EMPTY_LAYER'],
      mention:
        /Layer 2 of 2 \(sha256:b+\) of the linux\/arm64 image sha256:7+ of index sha256:9+ is empty/,
    },
    {
      name: 'a duplicate layer of an index child names the child',
      facts: armChild({
        layers: [layer(0, d('a')), layer(1, d('a'))],
      }),
      want: ['DUPLICATE_LAYER'],
      mention: /Layer 2 of 2 .* of the linux\/arm64 image sha256:7+ of index/,
    },
    {
      name: 'a zstd layer that could not be opened is a warning, not silence',
      facts: facts(AR, {
        layers: [
          layer(0, d('a')),
          layer(1, d('b'), {
            size: 90,
            mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
            unreadable: 'zstd layers open only on Node.js 22.15 or later',
          }),
        ],
      }),
      want: [],
      warnings: ['LAYER_UNREAD'],
    },
    {
      name: 'an unreadable layer whose diff_id is an all-zero tar is empty, with no warning',
      facts: facts(AR, {
        layers: [
          layer(0, d('a')),
          layer(1, d('b'), {
            diffId: zeros(1536),
            unreadable: 'zstd layers open only on Node.js 22.15 or later',
          }),
        ],
      }),
      want: ['EMPTY_LAYER'],
    },
    {
      name: 'a layer too big to open is not assumed empty',
      facts: facts(AR, {
        layers: [layer(0, d('a'), {unopened: 'larger than 4096 bytes'})],
      }),
      want: [],
    },
    {
      name: 'the same blob twice',
      facts: facts(AR, {
        layers: [
          layer(0, d('a')),
          layer(1, d('b')),
          layer(2, d('a'), {diffId: layer(0, d('a')).diffId}),
        ],
      }),
      want: ['DUPLICATE_LAYER'],
      mention: /Layer 3 of 3 .* repeats layer 1/,
    },
    {
      name: 'the same content compressed twice',
      facts: facts(AR, {
        layers: [
          layer(0, d('a'), {diffId: d('f')}),
          layer(1, d('b'), {diffId: d('f')}),
        ],
      }),
      want: ['DUPLICATE_LAYER'],
      mention:
        /same uncompressed content \(diff_id sha256:f+\) as layer 1 .*both gzip-compressed, with different bytes/,
    },
    {
      name: 'the same content once gzipped and once uncompressed',
      facts: facts(AR, {
        layers: [
          layer(0, d('a'), {diffId: d('f')}),
          layer(1, d('f'), {
            diffId: d('f'),
            mediaType: 'application/vnd.oci.image.layer.v1.tar',
          }),
        ],
      }),
      want: ['DUPLICATE_LAYER'],
      mention: /stored once gzip-compressed and once uncompressed/,
      never: /compressed differently/,
    },
    {
      name: 'no matching platform in an index',
      facts: facts(AR, {
        platformMatched: false,
        platform: undefined,
        availablePlatforms: ['linux/arm64', 'linux/s390x'],
        layers: [],
      }),
      want: ['NO_MATCHING_PLATFORM'],
      mention: /offers linux\/arm64, linux\/s390x/,
    },
    {
      name: 'a single image for another platform',
      facts: facts(AR, {platformMatched: false, platform: 'linux/arm64'}),
      want: ['NO_MATCHING_PLATFORM'],
      mention:
        /built for linux\/arm64, not linux\/amd64.*\(--platform linux\/arm64/,
    },
    {
      name: 'an attestation asked for as unknown/unknown is not an image',
      facts: attestation(true),
      want: ['NOT_A_CONTAINER_IMAGE'],
      mention:
        /sha256:8+ \(the unknown\/unknown entry of index sha256:9+\) is a build attestation for the linux\/amd64 image sha256:6+ .*--platform linux\/amd64/,
      never: /ask for unknown|streamable/,
    },
    {
      name: 'an attestation checked by digest is not an image, whatever its platform',
      facts: attestation(false),
      want: ['NOT_A_CONTAINER_IMAGE'],
      mention:
        /Manifest sha256:8+ is a build attestation .*https:\/\/spdx\.dev\/Document/,
      never: /ask for unknown/,
    },
    {
      name: 'a manifest with no layers',
      facts: facts(AR, {
        containerImage: false,
        notImage: 'no-layers',
        layers: [],
      }),
      want: ['NOT_A_CONTAINER_IMAGE'],
      mention: /Manifest sha256:1+ has no layers/,
    },
    {
      name: 'an OCI artifact',
      facts: facts(AR, {
        containerImage: false,
        artifactType: 'application/vnd.example.report.v1',
        layers: [],
      }),
      want: ['NOT_A_CONTAINER_IMAGE'],
      mention: /application\/vnd\.example\.report\.v1/,
    },
    {
      name: 'allowed container fields only',
      facts: facts(AR),
      job: {
        containers: [
          {
            imageUri: AR,
            commands: ['a'],
            entrypoint: '/bin/sh',
            volumes: ['/a:/b'],
            enableImageStreaming: true,
          },
        ],
      },
      want: [],
    },
    {
      name: 'unsupported container fields, each named',
      facts: facts(AR),
      job: {
        containers: [
          {imageUri: AR, options: '--privileged'},
          {imageUri: AR, username: 'u', password: 'p'},
        ],
      },
      want: [
        'UNSUPPORTED_CONTAINER_FIELD',
        'UNSUPPORTED_CONTAINER_FIELD',
        'UNSUPPORTED_CONTAINER_FIELD',
      ],
      mention: /Container runnable 1 sets `options`/,
    },
    {
      name: 'fields at their proto3 default count as unset',
      facts: facts(AR),
      job: {
        containers: [
          {imageUri: AR, options: '', blockExternalNetwork: false, volumes: []},
        ],
      },
      want: [],
    },
    {
      name: 'several reasons at once',
      facts: facts('gcr.io/a/b', {
        layers: [
          layer(0, GZIPPED_EMPTY),
          layer(1, GZIPPED_EMPTY, {diffId: EMPTY_DIFF_ID}),
        ],
      }),
      job: {containers: [{blockExternalNetwork: true}]},
      want: [
        'NOT_ARTIFACT_REGISTRY',
        'EMPTY_LAYER',
        'EMPTY_LAYER',
        'DUPLICATE_LAYER',
        'UNSUPPORTED_CONTAINER_FIELD',
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = streamingVerdict(c.facts, c.job);
      assert.deepStrictEqual(
        v.reasons.map(r => r.code),
        c.want,
      );
      assert.strictEqual(v.streamable, c.want.length === 0);
      assert.deepStrictEqual(
        v.warnings?.map(w => w.code),
        c.warnings ?? [],
      );
      const said = [...v.reasons, ...(v.warnings ?? [])];
      for (const r of said) assert.ok(r.message.length > 40, r.message);
      // Every reason about the image's content names the manifest it judged.
      const judged = c.facts.platformDigest ?? c.facts.digest;
      for (const r of v.reasons.filter(r => IMAGE_CODES.includes(r.code))) {
        assert.ok(r.message.includes(judged), r.message);
      }
      if (c.mention) {
        assert.ok(
          said.some(r => c.mention!.test(r.message)),
          said.map(r => r.message).join('\n'),
        );
      }
      if (c.never) {
        for (const r of said) assert.doesNotMatch(r.message, c.never);
      }
    });
  }
});

describe('isEmptyLayer', () => {
  const cases = [
    {name: 'known digest', layer: layer(0, GZIPPED_EMPTY), want: true},
    {
      name: 'known diff_id',
      layer: layer(0, d('a'), {diffId: EMPTY_DIFF_ID}),
      want: true,
    },
    {name: 'no entries', layer: layer(0, d('a'), {entries: 0}), want: true},
    {name: 'one entry', layer: layer(0, d('a'), {entries: 1}), want: false},
    {name: 'not opened', layer: layer(0, d('a')), want: false},
    {
      name: 'not opened, diff_id of 3 zero blocks',
      layer: layer(0, d('a'), {diffId: zeros(1536)}),
      want: true,
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.strictEqual(isEmptyLayer(c.layer), c.want));
  }
});

describe('isZeroTarDiffId', () => {
  const cases = [
    {name: 'a zero-byte tar', diffId: zeros(0), want: true},
    {name: 'the end-of-archive marker alone', diffId: zeros(1024), want: true},
    {name: 'padded to 3 blocks', diffId: zeros(1536), want: true},
    {
      name: "padded to GNU tar's 10 KiB record",
      diffId: zeros(10240),
      want: true,
    },
    {
      name: 'the largest recognized',
      diffId: zeros(MAX_ZERO_TAR_BYTES),
      want: true,
    },
    {
      name: 'past the largest',
      diffId: zeros(MAX_ZERO_TAR_BYTES + 512),
      want: false,
    },
    {name: 'not a whole block', diffId: zeros(1000), want: false},
    {name: 'another digest', diffId: d('c'), want: false},
    {
      name: 'another algorithm',
      diffId: 'sha512:' + 'c'.repeat(128),
      want: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.strictEqual(isZeroTarDiffId(c.diffId), c.want));
  }
});
