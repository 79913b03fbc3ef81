import * as assert from 'node:assert';
import {
  parseConfig,
  type PushrunConfig,
  type Mapping,
} from '../../shared/config';
import {parseImageRef} from '../../shared/image_ref';
import {buildCreateJobRequest, requestIdFor} from '../../shared/job_builder';
import {containerRunnables} from '../../shared/containers';
import {jobToProto3JSON} from '../../shared/batch/convert';

/** The parts of a job in proto3 JSON the tests read. */
interface JobJson {
  taskGroups: {
    taskCount: string;
    taskSpec: {
      maxRunDuration: string;
      runnables: {
        container: {
          imageUri?: string;
          commands: string[];
          enableImageStreaming?: boolean;
        };
      }[];
    };
  }[];
  labels: Record<string, string>;
  notifications: unknown[];
}

const HEX = '0123456789abcdef'.repeat(4);
const DIGEST = `sha256:${HEX}`;
const IMAGE = 'us-central1-docker.pkg.dev/my-project/ml/trainer';
const PINNED = `${IMAGE}@${DIGEST}`;

function configWith(streaming: string): PushrunConfig {
  const yaml = `
notifications: {batchEventsTopic: batch-events}
mappings:
  - name: trainer
    match: {image: ${IMAGE}}
    streaming: ${streaming}
    job:
      taskGroups:
        - taskCount: 2
          taskSpec:
            maxRunDuration: 3600s
            runnables:
              - container:
                  commands: ["train", "--tag=\${IMAGE_TAG}", "--image=\${IMAGE}", "--shell=$\${HOME}"]
              - container:
                  imageUri: \${IMAGE}
                  entrypoint: /bin/sh
              - container:
                  imageUri: busybox:1.36
                  commands: ["echo", "\${IMAGE_NAME} \${IMAGE_DIGEST} \${MAPPING}"]
              - script: {text: "echo done"}
      labels: {team: ml}
      notifications:
        - pubsubTopic: projects/my-project/topics/audit
          message: {type: TASK_STATE_CHANGED}
        - pubsubTopic: projects/my-project/topics/batch-events
          message: {type: JOB_STATE_CHANGED, newJobState: FAILED}
      logsPolicy: {destination: CLOUD_LOGGING}
`;
  const {config, errors} = parseConfig(yaml, 'pushrun.yaml');
  assert.deepStrictEqual(errors, []);
  return config!;
}

function build(
  streaming: string,
  streamable: boolean,
  tag: string | null = '1.1',
) {
  const config = configWith(streaming);
  const request = buildCreateJobRequest({
    mapping: config.mappings[0] as Mapping,
    config,
    ref: parseImageRef(PINNED),
    tag: tag ?? undefined,
    verdict: {streamable, reasons: []},
    project: 'my-project',
    region: 'us-central1',
  });
  return {request, json: jobToProto3JSON(request.job) as unknown as JobJson};
}

/** The job, in proto3 JSON, built from a one-mapping config for a streamable push. */
function jobFrom(yaml: string): Record<string, unknown> {
  const {config, errors} = parseConfig(yaml, 'pushrun.yaml');
  assert.deepStrictEqual(errors, []);
  const request = buildCreateJobRequest({
    mapping: config!.mappings[0],
    config: config!,
    ref: parseImageRef(PINNED),
    verdict: {streamable: true, reasons: []},
    project: 'my-project',
    region: 'us-central1',
  });
  return jobToProto3JSON(request.job) as Record<string, unknown>;
}

describe('buildCreateJobRequest', () => {
  it('names the parent and the job after the mapping and the digest', () => {
    const {request} = build('auto', true);
    assert.strictEqual(
      request.parent,
      'projects/my-project/locations/us-central1',
    );
    assert.strictEqual(request.jobId, `trainer-${HEX.slice(0, 12)}`);
  });

  it('fills placeholders, keeping escaped ones literal', () => {
    const {json} = build('auto', true);
    const runnables = json.taskGroups[0].taskSpec.runnables;
    assert.deepStrictEqual(runnables[0].container.commands, [
      'train',
      '--tag=1.1',
      `--image=${PINNED}`,
      '--shell=${HOME}',
    ]);
    assert.deepStrictEqual(runnables[2].container.commands, [
      'echo',
      `${IMAGE} ${DIGEST} trainer`,
    ]);
  });

  it('fills IMAGE_TAG with nothing for an untagged push', () => {
    const {json} = build('auto', true, null);
    assert.strictEqual(
      json.taskGroups[0].taskSpec.runnables[0].container.commands[1],
      '--tag=',
    );
  });

  it('pins the pushed image by digest where imageUri is absent or ${IMAGE}', () => {
    const {json} = build('auto', true);
    const uris = json.taskGroups[0].taskSpec.runnables.map(
      r => r.container?.imageUri,
    );
    assert.deepStrictEqual(uris, [PINNED, PINNED, 'busybox:1.36', undefined]);
  });

  const streamingCases = [
    {name: 'auto, streamable', streaming: 'auto', streamable: true, want: true},
    {
      name: 'auto, not streamable',
      streaming: 'auto',
      streamable: false,
      want: false,
    },
    {name: 'required', streaming: 'required', streamable: true, want: true},
    {name: 'off, streamable', streaming: 'off', streamable: true, want: false},
  ];
  for (const c of streamingCases) {
    it(`sets enableImageStreaming and its label: ${c.name}`, () => {
      // `required` rejects extra container fields, so the template used has none beyond those.
      const {json} = build(c.streaming, c.streamable);
      const runnables = json.taskGroups[0].taskSpec.runnables;
      assert.strictEqual(runnables[0].container.enableImageStreaming, c.want);
      assert.strictEqual(runnables[1].container.enableImageStreaming, c.want);
      assert.strictEqual(
        runnables[2].container.enableImageStreaming,
        undefined,
      );
      assert.strictEqual(json.labels['pushrun-streaming'], String(c.want));
    });
  }

  it("merges its labels with the template's", () => {
    const {json} = build('auto', true);
    assert.deepStrictEqual(json.labels, {
      team: 'ml',
      'pushrun-mapping': 'trainer',
      'pushrun-digest': HEX.slice(0, 32),
      'pushrun-streaming': 'true',
    });
  });

  it("puts the same labels on the VMs, kept beside the template's own unless they collide", () => {
    const cases = [
      {
        name: 'no allocationPolicy in the template',
        policy: '',
        want: {},
        wantInstances: undefined,
      },
      {
        name: 'labels of its own, one a pushrun key',
        policy:
          '      allocationPolicy:\n        instances: [{policy: {machineType: e2-standard-4}}]\n        labels: {cost-center: ml, pushrun-mapping: mine}\n',
        want: {'cost-center': 'ml'},
        wantInstances: [{policy: {machineType: 'e2-standard-4'}}],
      },
    ];
    for (const c of cases) {
      const json = jobFrom(
        `mappings:\n  - name: trainer\n    match: {image: ${IMAGE}}\n    job:\n      taskGroups: [{taskSpec: {runnables: [{container: {commands: [run]}}]}}]\n${c.policy}`,
      ) as unknown as {
        allocationPolicy: {labels: Record<string, string>; instances?: unknown};
      };
      assert.deepStrictEqual(
        json.allocationPolicy.labels,
        {
          ...c.want,
          'pushrun-mapping': 'trainer',
          'pushrun-digest': HEX.slice(0, 32),
          'pushrun-streaming': 'true',
        },
        c.name,
      );
      assert.deepStrictEqual(
        json.allocationPolicy.instances,
        c.wantInstances,
        c.name,
      );
    }
  });

  it("adds the JOB_STATE_CHANGED notification and keeps the template's, even on its topic", () => {
    const {json} = build('auto', true);
    assert.deepStrictEqual(json.notifications, [
      {
        pubsubTopic: 'projects/my-project/topics/audit',
        message: {type: 'TASK_STATE_CHANGED'},
      },
      {
        pubsubTopic: 'projects/my-project/topics/batch-events',
        message: {type: 'JOB_STATE_CHANGED', newJobState: 'FAILED'},
      },
      {
        pubsubTopic: 'projects/my-project/topics/batch-events',
        message: {type: 'JOB_STATE_CHANGED'},
      },
    ]);
  });

  it("does not repeat pushrun's own notification when the template already has it", () => {
    const yaml = `
notifications: {batchEventsTopic: batch-events}
mappings:
  - name: trainer
    match: {image: ${IMAGE}}
    job:
      taskGroups: [{taskSpec: {runnables: [{container: {}}]}}]
      notifications:
        - {pubsubTopic: projects/my-project/topics/batch-events, message: {type: JOB_STATE_CHANGED}}
`;
    assert.deepStrictEqual(jobFrom(yaml).notifications, [
      {
        pubsubTopic: 'projects/my-project/topics/batch-events',
        message: {type: 'JOB_STATE_CHANGED'},
      },
    ]);
  });

  it('keeps maxRunDuration and int64 fields through the conversion', () => {
    const {request, json} = build('auto', true);
    assert.strictEqual(json.taskGroups[0].taskSpec.maxRunDuration, '3600s');
    assert.strictEqual(json.taskGroups[0].taskCount, '2');
    const message = request.job as unknown as {
      taskGroups: {taskSpec: {maxRunDuration: {seconds: unknown}}}[];
      logsPolicy: {destination: unknown};
    };
    assert.strictEqual(
      Number(message.taskGroups[0].taskSpec.maxRunDuration.seconds),
      3600,
    );
    assert.strictEqual(
      message.logsPolicy.destination,
      'CLOUD_LOGGING',
      'enum by name in the message',
    );
  });

  it('derives the same UUID request id from the same job, a different one otherwise', () => {
    const a = build('auto', true).request.requestId;
    const b = build('auto', false, null).request.requestId;
    assert.strictEqual(a, b);
    assert.match(
      a!,
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.notStrictEqual(
      a,
      requestIdFor(
        'projects/my-project/locations/us-east1',
        `trainer-${HEX.slice(0, 12)}`,
      ),
    );
  });

  it('refuses an image that is not pinned by digest', () => {
    const config = configWith('auto');
    assert.throws(
      () =>
        buildCreateJobRequest({
          mapping: config.mappings[0],
          config,
          ref: parseImageRef(`${IMAGE}:1.1`),
          verdict: {streamable: true, reasons: []},
          project: 'p',
          region: 'us-central1',
        }),
      /not pinned by digest/,
    );
  });
});

describe('containerRunnables', () => {
  it('lists the containers that run the pushed image', () => {
    const job = configWith('auto').mappings[0].job;
    const got = containerRunnables(job);
    assert.strictEqual(got.length, 2);
    assert.deepStrictEqual(Object.keys(got[1]).sort(), [
      'entrypoint',
      'imageUri',
    ]);
  });
});
