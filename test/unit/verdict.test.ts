import * as assert from 'node:assert';
import {imageFacts} from '../support/facts';
import {parseImageRef} from '../../shared/image_ref';
import {
  isEmptyLayer,
  streamingVerdict,
  type ImageFacts,
  type JobFacts,
  type LayerFacts,
  type ReasonCode,
} from '../../shared/verdict';

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

describe('streamingVerdict', () => {
  const cases: {
    name: string;
    facts: ImageFacts;
    job?: JobFacts;
    want: ReasonCode[];
    mention?: RegExp;
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
      name: 'an OCI layout on disk is judged on content only',
      facts: {...facts(AR), ref: undefined, source: {kind: 'oci', dir: '/x'}},
      job: {region: 'europe-west1'},
      want: [],
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
      facts: facts(AR, {
        schema1: true,
        platformMediaType:
          'application/vnd.docker.distribution.manifest.v1+prettyjws',
      }),
      want: ['SCHEMA1_MANIFEST'],
      mention: /schema 1/,
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
      mention: /same uncompressed content \(diff_id sha256:f+\) as layer 1/,
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
      mention: /built for linux\/arm64/,
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
      for (const r of v.reasons) assert.ok(r.message.length > 40, r.message);
      if (c.mention) {
        assert.ok(
          v.reasons.some(r => c.mention!.test(r.message)),
          v.reasons.map(r => r.message).join('\n'),
        );
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
  ];
  for (const c of cases) {
    it(c.name, () => assert.strictEqual(isEmptyLayer(c.layer), c.want));
  }
});
