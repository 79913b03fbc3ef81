/**
 * The launch path end to end with real parts: one functions-framework child serving
 * `onImagePush` from the compiled build, a real docker-registry, the Firestore and Pub/Sub
 * emulators, and the Batch stand-in (the only fake). Events are Artifact Registry `gcr`
 * payloads spelled with AR names; PUSHRUN_REGISTRY_ENDPOINT sends their registry requests to
 * the local registry, which holds the same repository paths.
 */
import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type {Message, PubSub, Subscription} from '@google-cloud/pubsub';
import {grpc} from 'google-gax';
import {requestIdFor} from '../../shared/job_builder';
import type {RunRecord} from '../../shared/runs/record';
import type {RunStore} from '../../shared/runs/store';
import {
  startBatchStandin,
  type BatchStandin,
  type RecordedRequest,
} from '../support/batch_standin';
import {
  EMULATOR_PROJECT,
  resetFirestore,
  startFirestoreEmulator,
  startPubsubEmulator,
} from '../support/emulators';
import {
  postPubsubCloudEvent,
  serveFunction,
  type PubsubMessageSpec,
  type ServedFunction,
} from '../support/functions';
import {pushImage, type ImageSpec} from '../support/images';
import {
  REGISTRY_MISSING,
  registryInstalled,
  startRegistry,
  type TestRegistry,
} from '../support/registry';

const PROJECT = EMULATOR_PROJECT;
const AR = 'us-central1-docker.pkg.dev/acme/ml';
const NOTIFY_TOPIC = 'launch-notifications';
const EVENTS_TOPIC = 'launch-batch-events';
const UUID =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const RUN_TRUE =
  '{taskGroups: [{taskSpec: {runnables: [{container: {commands: ["true"]}}]}}]}';
const CONFIG = `
defaults: {streaming: auto, platform: linux/amd64}
notifications: {topic: ${NOTIFY_TOPIC}, batchEventsTopic: ${EVENTS_TOPIC}}
mappings:
  - name: trainer
    match: {image: ${AR}/trainer}
    job:
      taskGroups:
        - taskCount: 3
          taskSpec:
            maxRunDuration: 5400s
            runnables:
              - container:
                  commands:
                    - run
                    - --tag=\${IMAGE_TAG}
                    - --image=\${IMAGE}
                    - --digest=\${IMAGE_DIGEST}
                    - --name=\${IMAGE_NAME}
                    - --mapping=\${MAPPING}
      allocationPolicy:
        instances: [{policy: {machineType: e2-standard-4}}]
      labels: {team: ml, cost-center: "42"}
      logsPolicy: {destination: CLOUD_LOGGING}
  - name: dup-auto
    match: {image: ${AR}/dup}
    streaming: auto
    job: ${RUN_TRUE}
  - name: empty-required
    match: {image: ${AR}/empty}
    streaming: required
    job: ${RUN_TRUE}
  - name: shared-tool
    match: {image: us-docker.pkg.dev/acme/shared/tool}
    region: us-east1
    job: ${RUN_TRUE}
  - name: release
    match: {image: ${AR}/release, tags: ["v*", "semver:>=2.0.0"]}
    job: ${RUN_TRUE}
  - name: fan-one
    match: {image: ${AR}/fan}
    job: ${RUN_TRUE}
  - name: fan-two
    match: {image: "${AR}/fa*"}
    job: ${RUN_TRUE}
  - name: dedupe
    match: {image: ${AR}/dedupe}
    job: ${RUN_TRUE}
  - name: flaky
    match: {image: ${AR}/flaky}
    job: ${RUN_TRUE}
  - name: expired
    match: {image: ${AR}/expired}
    job: ${RUN_TRUE}
  - name: missing
    match: {image: ${AR}/missing}
    job: ${RUN_TRUE}
`;

/** The CreateJob request as the stand-in decodes it. */
interface CreateJob {
  parent: string;
  jobId: string;
  requestId: string;
  job: {
    labels: Record<string, string>;
    notifications: {pubsubTopic: string; message: {type: string}}[];
    taskGroups: {
      taskCount: string;
      taskSpec: {
        maxRunDuration?: {seconds: string};
        runnables: {
          container: {
            imageUri: string;
            commands: string[];
            enableImageStreaming: boolean;
          };
        }[];
      };
    }[];
  };
}

const hex = (digest: string) => digest.replace(/^sha256:/, '');
const short = (digest: string) => hex(digest).slice(0, 12);

describe('launch path end to end (functions-framework, registry, emulators, Batch stand-in)', function () {
  this.timeout(60_000);
  const cleanups: (() => Promise<unknown>)[] = [];
  let registry: TestRegistry;
  let standin: BatchStandin;
  let fn: ServedFunction;
  let store: RunStore;
  let pubsub: PubSub;
  let subscription: Subscription;
  const notices: Message[] = [];

  before(async function () {
    if (!registryInstalled()) {
      console.log(REGISTRY_MISSING);
      this.skip();
    }
    const [pubsubEmu, firestoreEmu] = await Promise.all([
      startPubsubEmulator(),
      startFirestoreEmulator(),
    ]);
    if (!pubsubEmu || !firestoreEmu) {
      console.log(
        'SKIPPED: launch integration tests need the Pub/Sub and Firestore emulators ' +
          '(gcloud components install pubsub-emulator cloud-firestore-emulator beta)',
      );
      this.skip();
    }
    await resetFirestore(firestoreEmu.host, PROJECT);

    registry = await startRegistry();
    cleanups.push(() => registry.stop());
    standin = await startBatchStandin();
    cleanups.push(() => standin.stop());

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushrun-launch-'));
    cleanups.push(async () => fs.rmSync(dir, {recursive: true, force: true}));
    const configFile = path.join(dir, 'pushrun.yaml');
    fs.writeFileSync(configFile, CONFIG);

    const env = {
      PUSHRUN_CONFIG: configFile,
      GOOGLE_CLOUD_PROJECT: PROJECT,
      PUSHRUN_REGISTRY_ENDPOINT: registry.baseUrl,
      PUSHRUN_BATCH_ENDPOINT: standin.endpoint,
      FIRESTORE_EMULATOR_HOST: firestoreEmu.host,
      PUBSUB_EMULATOR_HOST: pubsubEmu.host,
      PUSHRUN_MAX_EVENT_AGE: '1h',
      // No metadata server here: the client libraries must not go looking for one.
      METADATA_SERVER_DETECTION: 'none',
    };

    // The in-process clients below must not look for a metadata server either.
    const savedDetection = process.env.METADATA_SERVER_DETECTION;
    process.env.METADATA_SERVER_DETECTION = 'none';
    cleanups.push(async () => {
      if (savedDetection === undefined)
        delete process.env.METADATA_SERVER_DETECTION;
      else process.env.METADATA_SERVER_DETECTION = savedDetection;
    });

    const {PubSub} = await import('@google-cloud/pubsub');
    pubsub = new PubSub({projectId: PROJECT, apiEndpoint: pubsubEmu.host});
    cleanups.push(() => pubsub.close());
    const topic = pubsub.topic(NOTIFY_TOPIC);
    const [exists] = await topic.exists();
    if (!exists) await topic.create();
    [subscription] = await topic.createSubscription(
      `launch-test-${Date.now()}`,
    );
    subscription.on('message', (m: Message) => {
      m.ack();
      notices.push(m);
    });
    cleanups.push(() => subscription.close());

    const {makeRunStore} = await import('../../shared/runs/firestore_store');
    store = makeRunStore(env);

    fn = await serveFunction('onImagePush', env);
    cleanups.push(() => fn.stop());
  });

  after(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  /** Pushes `spec` to the local registry under the AR image's repository path. */
  function pushed(image: string, spec: ImageSpec, tag = 'v1') {
    const repoPath = image.split('/').slice(1).join('/');
    return pushImage(registry.baseUrl, repoPath, tag, spec);
  }
  function post(
    payload: unknown,
    opts: Omit<PubsubMessageSpec, 'data'> = {},
  ): Promise<number> {
    return postPubsubCloudEvent(fn.url, {
      data: JSON.stringify(payload),
      ...opts,
    });
  }
  const createRequests = (prefix: string): CreateJob[] =>
    standin.requests
      .filter(
        (r: RecordedRequest) =>
          r.method === 'CreateJob' &&
          String(r.request.jobId).startsWith(prefix),
      )
      .map(r => r.request as unknown as CreateJob);
  const jobsCreated = (prefix: string): string[] =>
    [...standin.jobs.keys()]
      .map(name => name.split('/').pop()!)
      .filter(id => id.startsWith(prefix));
  const logMark = () => fn.logs.length;
  const logsSince = (mark: number) => fn.logs.slice(mark);
  const is2xx = (status: number) => status >= 200 && status < 300;

  async function noticesFor(runId: string, atLeast: number, waitMs = 5000) {
    const deadline = Date.now() + waitMs;
    let found = notices.filter(m => m.attributes.runId === runId);
    while (found.length < atLeast && Date.now() < deadline) {
      await new Promise(r => setTimeout(r, 100));
      found = notices.filter(m => m.attributes.runId === runId);
    }
    return found;
  }

  it('a streamable push creates exactly the contract CreateJob, a QUEUED record and one launched log line', async () => {
    const image = `${AR}/trainer`;
    const digest = await pushed(image, 'clean', 'v1.4');
    const publishTime = new Date(Date.now() - 7000);
    const mark = logMark();
    const event = {
      action: 'INSERT',
      digest: `${image}@${digest}`,
      tag: `${image}:v1.4`,
    };
    const status = await post(event, {messageId: 'trainer-1', publishTime});
    assert.ok(is2xx(status), `status ${status}`);

    const reqs = createRequests('trainer-');
    assert.strictEqual(reqs.length, 1);
    const r = reqs[0];
    const parent = `projects/${PROJECT}/locations/us-central1`;
    assert.strictEqual(r.parent, parent);
    assert.strictEqual(r.jobId, `trainer-${short(digest)}`);
    assert.match(r.requestId, UUID);
    assert.strictEqual(r.requestId, requestIdFor(parent, r.jobId));

    assert.strictEqual(r.job.taskGroups.length, 1);
    const group = r.job.taskGroups[0];
    assert.strictEqual(group.taskCount, '3');
    assert.strictEqual(group.taskSpec.maxRunDuration?.seconds, '5400');
    const container = group.taskSpec.runnables[0].container;
    const pinned = `${image}@${digest}`;
    assert.strictEqual(container.imageUri, pinned);
    assert.strictEqual(container.enableImageStreaming, true);
    assert.deepStrictEqual(container.commands, [
      'run',
      '--tag=v1.4',
      `--image=${pinned}`,
      `--digest=${digest}`,
      `--name=${image}`,
      '--mapping=trainer',
    ]);
    assert.deepStrictEqual(r.job.labels, {
      team: 'ml',
      'cost-center': '42',
      'pushrun-mapping': 'trainer',
      'pushrun-digest': hex(digest).slice(0, 32),
      'pushrun-streaming': 'true',
    });
    assert.deepStrictEqual(
      r.job.notifications.map(n => [n.pubsubTopic, n.message.type]),
      [[`projects/${PROJECT}/topics/${EVENTS_TOPIC}`, 'JOB_STATE_CHANGED']],
    );

    const record = (await store.get(r.jobId)) as RunRecord;
    assert.ok(record, 'run record written');
    assert.strictEqual(record.state, 'QUEUED');
    assert.strictEqual(record.mapping, 'trainer');
    assert.strictEqual(record.digest, digest);
    assert.deepStrictEqual(record.tags, ['v1.4']);
    assert.strictEqual(record.streaming.enabled, true);
    assert.strictEqual(
      record.pushedAt?.toISOString(),
      publishTime.toISOString(),
    );
    assert.ok(record.launchedAt instanceof Date, 'launchedAt set');
    assert.ok(record.launchedAt.getTime() >= publishTime.getTime());

    const launched = logsSince(mark).filter(l => l.decision === 'launched');
    assert.strictEqual(launched.length, 1, JSON.stringify(logsSince(mark)));
    assert.strictEqual(launched[0].jobId, r.jobId);
    assert.strictEqual(launched[0].eventId, 'trainer-1');
    assert.strictEqual(launched[0].digest, digest);

    // A redelivery sends the same requestId (stable), and still one job exists.
    assert.ok(is2xx(await post(event, {messageId: 'trainer-1'})));
    const again = createRequests('trainer-');
    assert.strictEqual(again.length, 2);
    assert.strictEqual(again[1].requestId, r.requestId);
    assert.deepStrictEqual(jobsCreated('trainer-'), [r.jobId]);
  });

  it('a non-streamable image under auto (duplicate layer) runs without streaming', async () => {
    const image = `${AR}/dup`;
    const digest = await pushed(image, 'duplicate-layer');
    assert.ok(
      is2xx(await post({action: 'INSERT', digest: `${image}@${digest}`})),
    );
    const reqs = createRequests('dup-auto-');
    assert.strictEqual(reqs.length, 1);
    const job = reqs[0].job;
    assert.strictEqual(
      job.taskGroups[0].taskSpec.runnables[0].container.enableImageStreaming,
      false,
    );
    assert.strictEqual(job.labels['pushrun-streaming'], 'false');
    const record = await store.get(`dup-auto-${short(digest)}`);
    assert.strictEqual(record?.state, 'QUEUED');
    assert.strictEqual(record?.streaming.enabled, false);
    assert.ok(
      record?.streaming.reasons.some(x => x.code === 'DUPLICATE_LAYER'),
      JSON.stringify(record?.streaming),
    );
  });

  it('a non-streamable image under required (empty layer) starts no job: a SKIPPED record and one run.skipped notification', async () => {
    const image = `${AR}/empty`;
    const digest = await pushed(image, 'empty-layer');
    const mark = logMark();
    assert.ok(
      is2xx(await post({action: 'INSERT', digest: `${image}@${digest}`})),
    );
    assert.deepStrictEqual(createRequests('empty-required-'), []);

    const id = `skip-empty-required-${short(digest)}`;
    const record = await store.get(id);
    assert.strictEqual(record?.state, 'SKIPPED');
    assert.ok(
      record?.streaming.reasons.some(x => x.code === 'EMPTY_LAYER'),
      JSON.stringify(record?.streaming),
    );
    assert.ok(
      logsSince(mark).some(l => l.decision === 'skipped' && l.runId === id),
    );

    const sent = await noticesFor(id, 1);
    assert.strictEqual(sent.length, 1);
    assert.strictEqual(sent[0].attributes.type, 'run.skipped');
    assert.strictEqual(sent[0].attributes.mapping, 'empty-required');
    assert.strictEqual(sent[0].attributes.state, 'SKIPPED');
    // No second notification trails the first.
    await new Promise(r => setTimeout(r, 500));
    assert.strictEqual(
      notices.filter(m => m.attributes.runId === id).length,
      1,
    );
  });

  it('a multi-region image runs in the mapping region inside it, streaming', async () => {
    const image = 'us-docker.pkg.dev/acme/shared/tool';
    const digest = await pushed(image, 'oci');
    assert.ok(
      is2xx(await post({action: 'INSERT', digest: `${image}@${digest}`})),
    );
    const reqs = createRequests('shared-tool-');
    assert.strictEqual(reqs.length, 1);
    assert.strictEqual(
      reqs[0].parent,
      `projects/${PROJECT}/locations/us-east1`,
    );
    const container = reqs[0].job.taskGroups[0].taskSpec.runnables[0].container;
    assert.strictEqual(container.enableImageStreaming, true);
    assert.strictEqual(container.imageUri, `${image}@${digest}`);
    assert.strictEqual(reqs[0].job.labels['pushrun-streaming'], 'true');
  });

  it('tag filters: an untagged push starts nothing; the same image tagged v2.1.0 starts one job', async () => {
    const image = `${AR}/release`;
    const digest = await pushed(image, 'tiny-layer', 'v2.1.0');
    const mark = logMark();
    assert.ok(
      is2xx(await post({action: 'INSERT', digest: `${image}@${digest}`})),
    );
    assert.deepStrictEqual(createRequests('release-'), []);
    const unmatched = logsSince(mark).filter(l => l.decision === 'unmatched');
    assert.strictEqual(unmatched.length, 1, JSON.stringify(logsSince(mark)));
    assert.match(String(unmatched[0].message), /no mapping matches/);

    const status = await post({
      action: 'INSERT',
      digest: `${image}@${digest}`,
      tag: `${image}:v2.1.0`,
    });
    assert.ok(is2xx(status));
    assert.deepStrictEqual(jobsCreated('release-'), [
      `release-${short(digest)}`,
    ]);
  });

  it('one push matching two mappings starts one job for each, with distinct ids', async () => {
    const image = `${AR}/fan`;
    const digest = await pushed(image, 'clean');
    assert.ok(
      is2xx(await post({action: 'INSERT', digest: `${image}@${digest}`})),
    );
    const ids = jobsCreated('fan-').sort();
    assert.deepStrictEqual(ids, [
      `fan-one-${short(digest)}`,
      `fan-two-${short(digest)}`,
    ]);
    const commands = createRequests('fan-').map(
      r => r.job.labels['pushrun-mapping'],
    );
    assert.deepStrictEqual(commands.sort(), ['fan-one', 'fan-two']);
  });

  it('the same event five times at once, then a re-tag of the digest, start exactly one job; the record holds both tags', async () => {
    const image = `${AR}/dedupe`;
    const digest = await pushed(image, 'recompressed', 'v1');
    const event = {
      action: 'INSERT',
      digest: `${image}@${digest}`,
      tag: `${image}:v1`,
    };
    const statuses = await Promise.all(
      Array.from({length: 5}, () => post(event, {messageId: 'dedupe-1'})),
    );
    assert.ok(statuses.every(is2xx), statuses.join(','));
    const retag = await post(
      {...event, tag: `${image}:stable`},
      {messageId: 'dedupe-2'},
    );
    assert.ok(is2xx(retag));

    const jobId = `dedupe-${short(digest)}`;
    assert.deepStrictEqual(jobsCreated('dedupe-'), [jobId]);
    assert.ok(createRequests('dedupe-').length >= 2);
    const record = await store.get(jobId);
    assert.deepStrictEqual([...(record?.tags ?? [])].sort(), ['stable', 'v1']);
    assert.strictEqual(record?.state, 'QUEUED');
  });

  it('Batch UNAVAILABLE: the first delivery is non-2xx with no job; the redelivery is 2xx with one job', async () => {
    const image = `${AR}/flaky`;
    const digest = await pushed(image, 'clean', 'flaky');
    const event = {action: 'INSERT', digest: `${image}@${digest}`};
    standin.failNext('CreateJob', grpc.status.UNAVAILABLE, 1);
    const mark = logMark();
    const first = await post(event, {messageId: 'flaky-1'});
    assert.ok(!is2xx(first), `first delivery answered ${first}`);
    assert.deepStrictEqual(jobsCreated('flaky-'), []);
    assert.ok(logsSince(mark).some(l => l.decision === 'retry'));
    assert.strictEqual(await store.get(`flaky-${short(digest)}`), undefined);

    const second = await post(event, {messageId: 'flaky-1'});
    assert.ok(is2xx(second), `redelivery answered ${second}`);
    assert.deepStrictEqual(jobsCreated('flaky-'), [`flaky-${short(digest)}`]);
    const reqs = createRequests('flaky-');
    assert.strictEqual(reqs.length, 2);
    assert.strictEqual(reqs[0].requestId, reqs[1].requestId);
    assert.strictEqual(
      (await store.get(`flaky-${short(digest)}`))?.state,
      'QUEUED',
    );
  });

  const garbage: {
    name: string;
    message: Omit<PubsubMessageSpec, 'data'> & {data?: string};
    why: RegExp;
  }[] = [
    {
      name: 'bad base64',
      message: {rawData: '%%% not base64 %%%'},
      why: /base64/,
    },
    {
      name: 'bad JSON',
      message: {data: '{"action": "INSERT", "digest": '},
      why: /not JSON/,
    },
    {
      name: 'wrong types (digest: 42)',
      message: {data: JSON.stringify({action: 'INSERT', digest: 42})},
      why: /digest is not a string/,
    },
    {
      name: 'a digest that is not a reference',
      message: {
        data: JSON.stringify({action: 'INSERT', digest: 'not a reference!'}),
      },
      why: /digest/,
    },
    {
      name: 'DELETE',
      message: {
        data: JSON.stringify({action: 'DELETE', tag: `${AR}/trainer:v1.4`}),
      },
      why: /DELETE/,
    },
    {
      name: 'INSERT without a digest',
      message: {
        data: JSON.stringify({action: 'INSERT', tag: `${AR}/trainer:v1.4`}),
      },
      why: /without a digest/,
    },
    {name: 'empty message data', message: {data: ''}, why: /missing/},
  ];
  for (const g of garbage) {
    it(`garbage event, ${g.name}: 2xx, no CreateJob, a log line saying why`, async () => {
      const requestsBefore = standin.requests.length;
      const mark = logMark();
      const status = await postPubsubCloudEvent(fn.url, {
        data: '',
        ...g.message,
      });
      assert.ok(is2xx(status), `status ${status}`);
      assert.strictEqual(standin.requests.length, requestsBefore);
      const lines = logsSince(mark);
      assert.strictEqual(lines.length, 1, JSON.stringify(lines));
      assert.strictEqual(lines[0].decision, 'ignored');
      assert.match(String(lines[0].message), g.why);
    });
  }

  it('garbage event, an empty HTTP body: 2xx, no CreateJob, a log line saying why', async () => {
    const requestsBefore = standin.requests.length;
    const mark = logMark();
    const res = await fetch(fn.url, {
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
    assert.ok(is2xx(res.status), `status ${res.status}`);
    assert.strictEqual(standin.requests.length, requestsBefore);
    const lines = logsSince(mark);
    assert.strictEqual(lines.length, 1, JSON.stringify(lines));
    assert.strictEqual(lines[0].decision, 'ignored');
    assert.match(
      String(lines[0].message),
      /no data|not an object|no data\.message/,
    );
  });

  it('an event past the max age is acknowledged, starts nothing, and is logged expired', async () => {
    const image = `${AR}/expired`;
    const digest = await pushed(image, 'clean', 'old');
    const mark = logMark();
    const status = await post(
      {action: 'INSERT', digest: `${image}@${digest}`},
      {publishTime: new Date(Date.now() - 2 * 3600_000)},
    );
    assert.ok(is2xx(status));
    assert.deepStrictEqual(createRequests('expired-'), []);
    const expired = logsSince(mark).filter(l => l.decision === 'expired');
    assert.strictEqual(expired.length, 1);
    assert.strictEqual(expired[0].digest, digest);
  });

  it('an image the registry does not have (404) is acknowledged, starts nothing, and is logged', async () => {
    const image = `${AR}/missing`;
    const digest = `sha256:${'ab'.repeat(32)}`;
    const mark = logMark();
    const status = await post({action: 'INSERT', digest: `${image}@${digest}`});
    assert.ok(is2xx(status), `status ${status}`);
    assert.deepStrictEqual(createRequests('missing-'), []);
    const failed = logsSince(mark).filter(l => l.decision === 'failed');
    assert.strictEqual(failed.length, 1, JSON.stringify(logsSince(mark)));
    assert.strictEqual(failed[0].severity, 'ERROR');
    assert.strictEqual(failed[0].digest, digest);
  });
});
