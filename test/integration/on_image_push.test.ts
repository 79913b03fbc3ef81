/**
 * onImagePush served by the real functions-framework, receiving real CloudEvents, against a
 * real docker-registry, the Firestore and Pub/Sub emulators and the Batch stand-in.
 */
import * as assert from 'node:assert';
import type {Message} from '@google-cloud/pubsub';
import {grpc} from 'google-gax';
import {requestIdFor} from '../../shared/job_builder';
import type {RunRecord} from '../../shared/runs/record';
import {startStack, type Stack} from '../../sandbox/stack';
import {postPubsubCloudEvent} from '../../sandbox/functions';
import {
  HOSTILE_TAGS,
  OTHER_TYPES,
  hostileDigests,
} from '../support/hostile_events';
import {pushBuiltImage, pushImage, type ImageSpec} from '../../sandbox/images';
import {buildIndexImage, buildLayeredImage} from '../../sandbox/image_builder';

const PROJECT = 'pushrun-launch';
const C1 = 'us-central1-docker.pkg.dev/acme/ml';
const CONFIG = `
notifications: {topic: pushrun-notifications, batchEventsTopic: pushrun-batch-events}
mappings:
  - name: trainer
    match: {image: ${C1}/trainer}
    streaming: auto
    job:
      taskGroups:
        - taskCount: 2
          taskSpec:
            runnables:
              - container:
                  commands: ["python", "train.py", "--tag=\${IMAGE_TAG}", "--name=\${IMAGE_NAME}", "--m=\${MAPPING}"]
            maxRunDuration: 3600s
      allocationPolicy:
        instances: [{policy: {machineType: e2-standard-4}}]
      labels: {team: ml}
      logsPolicy: {destination: CLOUD_LOGGING}
  - name: dup-auto
    match: {image: ${C1}/dup}
    streaming: auto
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["true"]}}]}}]}
  - name: strict
    match: {image: ${C1}/empty}
    streaming: required
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["true"]}}]}}]}
  - name: shared-tool
    match: {image: us-docker.pkg.dev/acme/shared/tool}
    region: us-east1
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["true"]}}]}}]}
  - name: release
    match: {image: ${C1}/release, tags: ["v*", "semver:>=2.0.0"]}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["true"]}}]}}]}
  - name: fan-a
    match: {image: ${C1}/fan}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["a"]}}]}}]}
  - name: fan-b
    match: {image: ${C1}/fa*}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["b"]}}]}}]}
  - name: once
    match: {image: ${C1}/once}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["true"]}}]}}]}
  - name: flaky
    match: {image: ${C1}/flaky}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["true"]}}]}}]}
  - name: old
    match: {image: ${C1}/old}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["true"]}}]}}]}
  - name: gone
    match: {image: ${C1}/gone}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["true"]}}]}}]}
  - name: multi-any
    match: {image: ${C1}/multi}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["run", "\${IMAGE_DIGEST}"]}}]}}]}
  - name: multi-tagged
    match: {image: ${C1}/multi, tags: ["v*"]}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["run", "\${IMAGE_TAG}"]}}]}}]}
  - name: fuzz
    match: {image: ${C1}/fuzz}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["echo", "\${IMAGE_TAG}"]}}]}}]}
`;

type Job = Record<string, unknown> & {
  labels: Record<string, string>;
  notifications: {pubsubTopic: string; message: {type: string}}[];
  taskGroups: {
    taskCount: string;
    taskSpec: {
      maxRunDuration?: {seconds: string};
      runnables: {container: Record<string, unknown>}[];
    };
  }[];
};

describe('onImagePush through functions-framework', function () {
  this.timeout(120_000);
  let stack: Stack;
  let url: string;
  let notices: Message[] = [];

  before(async function () {
    const started = await startStack({
      project: PROJECT,
      configText: CONFIG,
      functions: ['onImagePush'],
      keepEmulators: true,
      env: {PUSHRUN_MAX_EVENT_AGE: '1h'},
    });
    if ('missing' in started) {
      console.log(`SKIPPED: onImagePush integration tests: ${started.missing}`);
      this.skip();
    }
    stack = started;
    url = stack.functions.onImagePush!.url;
    notices = await stack.watchNotifications();
  });

  after(async () => {
    await stack?.stop();
  });

  const repoOf = (image: string) => image.split('/').slice(1).join('/');
  async function pushed(
    image: string,
    spec: ImageSpec,
    tag = 'v1',
  ): Promise<string> {
    return pushImage(stack.registry.baseUrl, repoOf(image), tag, spec);
  }
  function post(
    payload: unknown,
    opts: {messageId?: string; publishTime?: Date} = {},
  ) {
    return postPubsubCloudEvent(url, {data: JSON.stringify(payload), ...opts});
  }
  const created = (prefix: string) =>
    stack.standin.requests.filter(
      r =>
        r.method === 'CreateJob' && String(r.request.jobId).startsWith(prefix),
    );
  const jobsNamed = (prefix: string) =>
    [...stack.standin.jobs.keys()].filter(n =>
      n.split('/').pop()!.startsWith(prefix),
    );
  const logsSince = (n: number) => stack.functions.onImagePush!.logs.slice(n);

  it('a streamable push creates exactly the contract request, a record and one log line', async () => {
    const digest = await pushed(`${C1}/trainer`, 'clean', 'v1.2');
    const hex = digest.slice(7);
    const publishTime = new Date(Date.now() - 5000);
    const before = stack.functions.onImagePush!.logs.length;
    const status = await post(
      {
        action: 'INSERT',
        digest: `${C1}/trainer@${digest}`,
        tag: `${C1}/trainer:v1.2`,
      },
      {publishTime},
    );
    assert.ok(status < 300, `status ${status}`);

    const [req] = created('trainer-');
    assert.ok(req, 'CreateJob received');
    assert.strictEqual(created('trainer-').length, 1);
    const r = req.request as {
      parent: string;
      jobId: string;
      requestId: string;
      job: Job;
    };
    assert.strictEqual(r.parent, `projects/${PROJECT}/locations/us-central1`);
    assert.strictEqual(r.jobId, `trainer-${hex.slice(0, 12)}`);
    assert.match(
      r.requestId,
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.strictEqual(r.requestId, requestIdFor(r.parent, r.jobId));
    const container = r.job.taskGroups[0].taskSpec.runnables[0].container;
    assert.strictEqual(container.imageUri, `${C1}/trainer@${digest}`);
    assert.strictEqual(container.enableImageStreaming, true);
    assert.deepStrictEqual(container.commands, [
      'python',
      'train.py',
      '--tag=v1.2',
      `--name=${C1}/trainer`,
      '--m=trainer',
    ]);
    assert.strictEqual(r.job.taskGroups[0].taskCount, '2');
    assert.strictEqual(
      r.job.taskGroups[0].taskSpec.maxRunDuration?.seconds,
      '3600',
    );
    assert.deepStrictEqual(r.job.labels, {
      team: 'ml',
      'pushrun-mapping': 'trainer',
      'pushrun-digest': hex.slice(0, 32),
      'pushrun-streaming': 'true',
    });
    assert.deepStrictEqual(
      r.job.notifications.map(n => [n.pubsubTopic, n.message.type]),
      [
        [
          `projects/${PROJECT}/topics/pushrun-batch-events`,
          'JOB_STATE_CHANGED',
        ],
      ],
    );

    const record = (await stack.store().get(r.jobId)) as RunRecord;
    assert.strictEqual(record.state, 'QUEUED');
    assert.strictEqual(record.streaming.enabled, true);
    assert.deepStrictEqual(record.tags, ['v1.2']);
    assert.strictEqual(
      record.pushedAt?.toISOString(),
      publishTime.toISOString(),
    );
    assert.ok(record.launchedAt);

    const decisions = logsSince(before).filter(l => l.decision === 'launched');
    assert.strictEqual(decisions.length, 1);
    assert.strictEqual(decisions[0].jobId, r.jobId);
    assert.strictEqual(decisions[0].digest, digest);
  });

  it('a non-streamable image under auto runs without streaming', async () => {
    const digest = await pushed(`${C1}/dup`, 'duplicate-layer');
    assert.ok(
      (await post({action: 'INSERT', digest: `${C1}/dup@${digest}`})) < 300,
    );
    const [req] = created('dup-auto-');
    const job = req.request.job as Job;
    assert.strictEqual(
      job.taskGroups[0].taskSpec.runnables[0].container.enableImageStreaming,
      false,
    );
    assert.strictEqual(job.labels['pushrun-streaming'], 'false');
    const record = await stack.store().get(String(req.request.jobId));
    assert.deepStrictEqual(
      record?.streaming.reasons.map(x => x.code),
      ['DUPLICATE_LAYER'],
    );
  });

  it('a non-streamable image under required starts no job: a skipped record and one notification', async () => {
    const digest = await pushed(`${C1}/empty`, 'empty-layer');
    assert.ok(
      (await post({action: 'INSERT', digest: `${C1}/empty@${digest}`})) < 300,
    );
    assert.deepStrictEqual(created('strict-'), []);
    const id = `skip-strict-${digest.slice(7, 19)}`;
    const record = await stack.store().get(id);
    assert.strictEqual(record?.state, 'SKIPPED');
    assert.ok(record?.streaming.reasons.some(x => x.code === 'EMPTY_LAYER'));
    assert.ok(record?.notifiedAt);
    await new Promise(r => setTimeout(r, 1000));
    const sent = notices.filter(m => m.attributes.runId === id);
    assert.strictEqual(sent.length, 1);
    assert.strictEqual(sent[0].attributes.type, 'run.skipped');
  });

  it('a multi-region image runs in the mapping region inside it, streaming', async () => {
    const image = 'us-docker.pkg.dev/acme/shared/tool';
    const digest = await pushed(image, 'oci');
    assert.ok(
      (await post({action: 'INSERT', digest: `${image}@${digest}`})) < 300,
    );
    const [req] = created('shared-tool-');
    assert.strictEqual(
      req.request.parent,
      `projects/${PROJECT}/locations/us-east1`,
    );
    const job = req.request.job as Job;
    assert.strictEqual(
      job.taskGroups[0].taskSpec.runnables[0].container.enableImageStreaming,
      true,
    );
  });

  it('tag filters: an untagged push starts nothing, a matching tag starts one job', async () => {
    const digest = await pushed(`${C1}/release`, 'tiny-layer', 'v2.1.0');
    const before = stack.functions.onImagePush!.logs.length;
    assert.ok(
      (await post({action: 'INSERT', digest: `${C1}/release@${digest}`})) < 300,
    );
    assert.deepStrictEqual(created('release-'), []);
    assert.ok(logsSince(before).some(l => l.decision === 'unmatched'));
    assert.ok(
      (await post({
        action: 'INSERT',
        digest: `${C1}/release@${digest}`,
        tag: `${C1}/release:v2.1.0`,
      })) < 300,
    );
    assert.strictEqual(created('release-').length, 1);
  });

  it('one push matching two mappings starts one job for each', async () => {
    const digest = await pushed(`${C1}/fan`, 'clean');
    assert.ok(
      (await post({action: 'INSERT', digest: `${C1}/fan@${digest}`})) < 300,
    );
    const ids = [...created('fan-a-'), ...created('fan-b-')].map(
      r => r.request.jobId,
    );
    assert.deepStrictEqual(ids.sort(), [
      `fan-a-${digest.slice(7, 19)}`,
      `fan-b-${digest.slice(7, 19)}`,
    ]);
  });

  it('the same event five times at once, then a re-tag, start one job', async () => {
    const digest = await pushed(`${C1}/once`, 'tiny-layer', 'v1');
    const event = {
      action: 'INSERT',
      digest: `${C1}/once@${digest}`,
      tag: `${C1}/once:v1`,
    };
    const statuses = await Promise.all(
      Array.from({length: 5}, () => post(event, {messageId: 'same-message'})),
    );
    assert.ok(
      statuses.every(s => s < 300),
      statuses.join(','),
    );
    assert.ok(
      (await post({...event, tag: `${C1}/once:latest`}, {messageId: 'retag'})) <
        300,
    );
    assert.deepStrictEqual(jobsNamed('once-'), [
      `projects/${PROJECT}/locations/us-central1/jobs/once-${digest.slice(7, 19)}`,
    ]);
    const record = await stack.store().get(`once-${digest.slice(7, 19)}`);
    assert.deepStrictEqual([...(record?.tags ?? [])].sort(), ['latest', 'v1']);
  });

  it('Batch UNAVAILABLE: non-2xx and no job, then one job on redelivery', async () => {
    const digest = await pushed(`${C1}/flaky`, 'tiny-layer');
    const event = {action: 'INSERT', digest: `${C1}/flaky@${digest}`};
    stack.standin.failNext('CreateJob', grpc.status.UNAVAILABLE, 1);
    const first = await post(event, {messageId: 'flaky'});
    assert.ok(first >= 500, `first delivery answered ${first}`);
    assert.deepStrictEqual(jobsNamed('flaky-'), []);
    assert.strictEqual(
      await stack.store().get(`flaky-${digest.slice(7, 19)}`),
      undefined,
    );
    assert.ok(
      logsSince(0).some(l => l.decision === 'retry' && l.mapping === 'flaky'),
    );
    const second = await post(event, {messageId: 'flaky'});
    assert.ok(second < 300, `redelivery answered ${second}`);
    assert.strictEqual(jobsNamed('flaky-').length, 1);
    const creates = created('flaky-');
    assert.strictEqual(creates.length, 2);
    assert.strictEqual(
      creates[0].request.requestId,
      creates[1].request.requestId,
    );
    assert.strictEqual(
      (await stack.store().get(`flaky-${digest.slice(7, 19)}`))?.state,
      'QUEUED',
    );
  });

  it('garbage events are acknowledged with a log line saying why, and start nothing', async () => {
    const cases: {name: string; data?: string; rawData?: string}[] = [
      {name: 'bad base64', rawData: '%%%not base64%%%'},
      {name: 'bad JSON', data: '{"action": "INSERT", '},
      {
        name: 'wrong types',
        data: JSON.stringify({action: 'INSERT', digest: 42}),
      },
      {
        name: 'not a reference',
        data: JSON.stringify({action: 'INSERT', digest: 'not a ref'}),
      },
      {
        name: 'DELETE',
        data: JSON.stringify({action: 'DELETE', tag: `${C1}/trainer:v1`}),
      },
      {
        name: 'INSERT without digest',
        data: JSON.stringify({action: 'INSERT', tag: `${C1}/trainer:v1`}),
      },
      {name: 'empty object', data: '{}'},
    ];
    const jobsBefore = stack.standin.jobs.size;
    for (const c of cases) {
      const before = stack.functions.onImagePush!.logs.length;
      const status = await postPubsubCloudEvent(url, {
        data: c.data ?? '',
        ...(c.rawData !== undefined && {rawData: c.rawData}),
      });
      assert.ok(status < 300, `${c.name}: ${status}`);
      const lines = logsSince(before);
      assert.strictEqual(
        lines.length,
        1,
        `${c.name}: ${JSON.stringify(lines)}`,
      );
      assert.match(String(lines[0].message), /ignored/, c.name);
    }
    assert.strictEqual(stack.standin.jobs.size, jobsBefore);
  });

  it('an event with an empty HTTP body is acknowledged with a log line saying why', async () => {
    const before = stack.functions.onImagePush!.logs.length;
    const requests = stack.standin.requests.length;
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-id': 'empty-body',
        'ce-specversion': '1.0',
        'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
        'ce-source': '//pubsub.googleapis.com/projects/p/topics/gcr',
      },
    });
    await res.arrayBuffer();
    assert.ok(res.status < 300, `status ${res.status}`);
    assert.strictEqual(stack.standin.requests.length, requests);
    const lines = logsSince(before);
    assert.strictEqual(lines.length, 1, JSON.stringify(lines));
    assert.strictEqual(lines[0].decision, 'ignored');
  });

  it('an event past the max age is acknowledged and starts nothing', async () => {
    const digest = await pushed(`${C1}/old`, 'tiny-layer');
    const before = stack.functions.onImagePush!.logs.length;
    const status = await post(
      {action: 'INSERT', digest: `${C1}/old@${digest}`},
      {publishTime: new Date(Date.now() - 2 * 3600_000)},
    );
    assert.ok(status < 300);
    assert.deepStrictEqual(jobsNamed('old-'), []);
    assert.ok(logsSince(before).some(l => l.decision === 'expired'));
  });

  it('an image the registry does not have is acknowledged and logged', async () => {
    const missing = `sha256:${'0'.repeat(64)}`;
    const before = stack.functions.onImagePush!.logs.length;
    assert.ok(
      (await post({action: 'INSERT', digest: `${C1}/gone@${missing}`})) < 300,
    );
    assert.deepStrictEqual(jobsNamed('gone-'), []);
    assert.ok(logsSince(before).some(l => l.severity === 'ERROR'));
  });

  it('1,200 hostile events (other CloudEvent types, hostile tags and digests) are acknowledged and start nothing', async function () {
    this.timeout(300_000);
    const image = `${C1}/fuzz`;
    const digest = await pushed(image, 'clean', 'v1');
    const valid = {action: 'INSERT', digest: `${image}@${digest}`};
    // Types functions-framework takes as a CloudEvent at all (a missing ce-type is its 400).
    const types = OTHER_TYPES.filter((t): t is string => !!t);
    const digests = hostileDigests(image, digest);
    let seed = 7;
    const pick = <T>(xs: readonly T[]): T => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return xs[seed % xs.length];
    };
    const events = Array.from({length: 1200}, (_, i) => {
      const kind = i % 3;
      if (kind === 0) return {type: pick(types), payload: valid};
      if (kind === 1)
        return {payload: {...valid, tag: `${image}:${pick(HOSTILE_TAGS)}`}};
      return {payload: {action: 'INSERT', digest: pick(digests)}};
    });
    const before = stack.functions.onImagePush!.logs.length;
    const requests = stack.standin.requests.length;
    const statuses: number[] = [];
    for (let i = 0; i < events.length; i += 25) {
      statuses.push(
        ...(await Promise.all(
          events.slice(i, i + 25).map(e =>
            postPubsubCloudEvent(url, {
              data: JSON.stringify(e.payload),
              ...(e.type && {type: e.type}),
            }),
          ),
        )),
      );
    }
    assert.deepStrictEqual(
      statuses.filter(x => x >= 300),
      [],
      'every event acknowledged',
    );
    assert.strictEqual(
      stack.standin.requests.length,
      requests,
      'no Batch call',
    );
    assert.deepStrictEqual(jobsNamed('fuzz-'), []);
    const lines = logsSince(before);
    assert.strictEqual(lines.length, events.length, 'one log line per event');
    assert.ok(lines.every(l => l.decision === 'ignored'));

    // The function is still up and the gate lets a real push through.
    assert.ok((await post({...valid, tag: `${image}:v1`})) < 300);
    assert.deepStrictEqual(jobsNamed('fuzz-'), [
      `projects/${PROJECT}/locations/us-central1/jobs/fuzz-${digest.slice(7, 19)}`,
    ]);
  });

  describe('a multi-arch push: the amd64 child, the arm64 child and the index, in every order, each twice', () => {
    const ORDERS = [
      ['amd64', 'arm64', 'index'],
      ['amd64', 'index', 'arm64'],
      ['arm64', 'amd64', 'index'],
      ['arm64', 'index', 'amd64'],
      ['index', 'amd64', 'arm64'],
      ['index', 'arm64', 'amd64'],
    ] as const;
    const image = `${C1}/multi`;
    let n = 0;
    for (const oci of [false, true]) {
      for (const order of ORDERS) {
        const kind = oci ? 'OCI index' : 'Docker manifest list';
        it(`${kind}: ${order.join(', ')}`, async () => {
          n++;
          const tag = `v${n}`;
          // Each case builds its own image, so that its digests are new.
          const amd64 = await buildLayeredImage(
            [{'bin/app': `amd64 ${kind} ${n}`}],
            {oci},
          );
          const arm64 = await buildLayeredImage(
            [{'bin/app': `arm64 ${kind} ${n}`}],
            {
              oci,
              architecture: 'arm64',
            },
          );
          const index = buildIndexImage(
            [
              {image: amd64, architecture: 'amd64'},
              {image: arm64, architecture: 'arm64', variant: 'v8'},
            ],
            {oci},
          );
          await pushBuiltImage(
            stack.registry.baseUrl,
            repoOf(image),
            index,
            tag,
          );
          const messages = {
            amd64: {action: 'INSERT', digest: `${image}@${amd64.digest}`},
            arm64: {action: 'INSERT', digest: `${image}@${arm64.digest}`},
            index: {
              action: 'INSERT',
              digest: `${image}@${index.digest}`,
              tag: `${image}:${tag}`,
            },
          };
          for (const which of order) {
            assert.ok(
              (await post(messages[which], {messageId: `${tag}-${which}`})) <
                300,
            );
          }
          // The second delivery of each, all at once, as Pub/Sub may redeliver.
          const again = await Promise.all(
            order.map(which =>
              post(messages[which], {messageId: `${tag}-${which}`}),
            ),
          );
          assert.ok(
            again.every(x => x < 300),
            again.join(','),
          );

          const child = amd64.digest.slice(7, 19);
          const names = [...stack.standin.jobs.keys()].filter(k =>
            [index.digest, amd64.digest, arm64.digest].some(d =>
              k.endsWith(`-${d.slice(7, 19)}`),
            ),
          );
          assert.deepStrictEqual(names.sort(), [
            `projects/${PROJECT}/locations/us-central1/jobs/multi-any-${child}`,
            `projects/${PROJECT}/locations/us-central1/jobs/multi-tagged-${child}`,
          ]);
          for (const name of names) {
            const job = stack.standin.jobs.get(name) as unknown as Job;
            const container = job.taskGroups[0].taskSpec.runnables[0].container;
            assert.strictEqual(container.imageUri, `${image}@${amd64.digest}`);
            assert.strictEqual(
              job.labels['pushrun-digest'],
              amd64.digest.slice(7, 39),
            );
            const record = (await stack.store().get(name.split('/').pop()!))!;
            assert.strictEqual(record.digest, amd64.digest);
            assert.strictEqual(record.indexDigest, index.digest);
            assert.deepStrictEqual(record.tags, [tag]);
          }
          // The tag filter runs only from the tagged index, so its command always has the tag.
          const tagged = stack.standin.jobs.get(
            `projects/${PROJECT}/locations/us-central1/jobs/multi-tagged-${child}`,
          ) as unknown as Job;
          assert.deepStrictEqual(
            tagged.taskGroups[0].taskSpec.runnables[0].container.commands,
            ['run', tag],
          );
        });
      }
    }
  });
});
