import * as assert from 'node:assert';
import {parseConfig, type PushrunConfig} from '../../shared/config';
import {parseImageRef, type ImageRef} from '../../shared/image_ref';
import {jobToProto3JSON} from '../../shared/batch/convert';
import {planPush} from '../../shared/plan';
import type {ImageFacts} from '../../shared/image_facts';
import {imageFacts} from '../support/facts';

/** The parts of a job in proto3 JSON the tests read. */
interface JobJson {
  taskGroups: {
    taskSpec: {runnables: {container: {enableImageStreaming?: boolean}}[]};
  }[];
}

const DIGEST = 'sha256:' + 'c'.repeat(64);
const JOB =
  'job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: [x]}}]}}]}';

function config(): PushrunConfig {
  const {config, errors} = parseConfig(
    `mappings:
  - name: auto
    match: {image: "*-docker.pkg.dev/p/ml/*"}
    ${JOB}
  - name: must-stream
    match: {image: "*-docker.pkg.dev/p/ml/*", tags: ["v*"]}
    streaming: required
    ${JOB}
  - name: never
    match: {image: "*-docker.pkg.dev/p/ml/*"}
    streaming: "off"
    region: us-central1
    ${JOB}
`,
    'c.yaml',
  );
  assert.deepStrictEqual(errors, []);
  return config!;
}

function facts(ref: ImageRef, over: Partial<ImageFacts> = {}): ImageFacts {
  return imageFacts(ref, DIGEST, {
    layers: [
      {
        index: 0,
        digest: 'sha256:' + '1'.repeat(64),
        size: 1000,
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        entries: 5,
      },
    ],
    ...over,
  });
}

describe('planPush', () => {
  const cfg = config();
  const cases: {
    name: string;
    image: string;
    tag: string | undefined;
    facts: Partial<ImageFacts>;
    want: {
      mapping: string;
      region?: string;
      streaming?: boolean;
      skip?: RegExp;
    }[];
  }[] = [
    {
      name: 'streamable regional image: every matching mapping gets a request',
      image: 'us-central1-docker.pkg.dev/p/ml/trainer',
      tag: 'v1',
      facts: {},
      want: [
        {mapping: 'auto', region: 'us-central1', streaming: true},
        {mapping: 'must-stream', region: 'us-central1', streaming: true},
        {mapping: 'never', region: 'us-central1', streaming: false},
      ],
    },
    {
      name: 'schema 1: auto pulls, required skips',
      image: 'us-central1-docker.pkg.dev/p/ml/trainer',
      tag: 'v1',
      facts: {schema1: true},
      want: [
        {mapping: 'auto', region: 'us-central1', streaming: false},
        {
          mapping: 'must-stream',
          region: 'us-central1',
          skip: /streaming is required but the image cannot be streamed: SCHEMA1_MANIFEST/,
        },
        {mapping: 'never', region: 'us-central1', streaming: false},
      ],
    },
    {
      name: 'the job runs in the image region unless the mapping names one',
      image: 'europe-west4-docker.pkg.dev/p/ml/trainer',
      tag: undefined,
      facts: {},
      want: [
        {mapping: 'auto', region: 'europe-west4', streaming: true},
        {mapping: 'never', region: 'us-central1', streaming: false},
      ],
    },
    {
      name: 'multi-region image without a region: skipped',
      image: 'us-docker.pkg.dev/p/ml/trainer',
      tag: undefined,
      facts: {},
      want: [
        {
          mapping: 'auto',
          skip: /no region for the job: the image is in the multi-region "us"; set region on mapping "auto"/,
        },
        {mapping: 'never', region: 'us-central1', streaming: false},
      ],
    },
    {
      name: 'not a container image: skipped whatever the policy',
      image: 'us-central1-docker.pkg.dev/p/ml/chart',
      tag: undefined,
      facts: {
        containerImage: false,
        artifactType: 'application/vnd.cncf.helm.config.v1+json',
        layers: [],
      },
      want: [
        {
          mapping: 'auto',
          region: 'us-central1',
          skip: /^NOT_A_CONTAINER_IMAGE: /,
        },
        {
          mapping: 'never',
          region: 'us-central1',
          skip: /^NOT_A_CONTAINER_IMAGE: /,
        },
      ],
    },
    {
      name: 'no mapping matches',
      image: 'us-central1-docker.pkg.dev/p/other/trainer',
      tag: 'v1',
      facts: {},
      want: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const ref = parseImageRef(`${c.image}@${DIGEST}`);
      const runs = planPush(
        {digestRef: ref, tag: c.tag},
        cfg,
        facts(ref, c.facts),
        'my-project',
      );
      assert.strictEqual(runs.length, c.want.length);
      runs.forEach((run, i) => {
        const w = c.want[i];
        assert.strictEqual(run.mapping.name, w.mapping);
        assert.strictEqual(run.region, w.region);
        if (w.skip) {
          assert.strictEqual(run.kind, 'skip');
          assert.match(run.skip.reason, w.skip);
          return;
        }
        assert.strictEqual(run.kind, 'launch');
        const job = jobToProto3JSON(run.request.job) as unknown as JobJson;
        assert.strictEqual(
          run.request.parent,
          `projects/my-project/locations/${w.region}`,
        );
        assert.strictEqual(run.request.jobId, `${w.mapping}-cccccccccccc`);
        assert.strictEqual(
          job.taskGroups[0].taskSpec.runnables[0].container
            .enableImageStreaming,
          w.streaming,
        );
      });
    });
  }
});
