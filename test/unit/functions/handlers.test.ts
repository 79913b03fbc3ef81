/**
 * The entry points in `functions/`, served in process by functions-framework's testing helper
 * (`getTestServer`): each test POSTs a CloudEvent over HTTP, as Eventarc does, and reads the
 * status the framework answers (2xx acknowledges, anything else makes Pub/Sub deliver again),
 * with recorded fakes behind the handler.
 */
import * as assert from 'node:assert';
import type {AddressInfo} from 'node:net';
import * as ff from '@google-cloud/functions-framework';
import * as sinon from 'sinon';
import {getTestServer} from '@google-cloud/functions-framework/testing';
import {makeOnImagePush} from '../../../functions/on_image_push';
import {
  makeOnJobStateChange,
  makeReconcileRuns,
} from '../../../functions/on_job_state_change';
import {PUBSUB_MESSAGE_TYPE} from '../../../shared/cloud_event';
import {parseConfig} from '../../../shared/config';
import {makeDeps, type Deps} from '../../../shared/deps';
import {PermanentError, TransientError} from '../../../shared/errors';
import type {Notifier} from '../../../shared/notify';
import {DigestCache, makeRegistry} from '../../../shared/registry';
import {MemoryRunStore} from '../../../shared/runs/memory_store';
import type {RunRecord} from '../../../shared/runs/record';
import {parseSettings} from '../../../shared/settings';
import {buildImage, type BuiltImage} from '../../../sandbox/images';
import {
  FakeBatchJobs,
  createdJob,
  jobNameOf,
  recordingLogger,
  runRecord,
  servedFetch,
} from '../../support/fixtures';

const IMAGE = 'us-central1-docker.pkg.dev/p/ml/trainer';
const CONFIG = `
mappings:
  - name: trainer
    match: {image: ${IMAGE}}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["train"]}}]}}]}
`;

/** The handler's world: recorded fakes and the in-memory store. */
interface World {
  readonly deps: Deps;
  readonly batch: FakeBatchJobs;
  readonly store: MemoryRunStore;
  readonly log: ReturnType<typeof recordingLogger>;
  readonly notified: RunRecord[];
}

function world(
  image: BuiltImage,
  opts: {registryStatus?: number; batch?: FakeBatchJobs} = {},
): World {
  const settings = parseSettings({
    GOOGLE_CLOUD_PROJECT: 'p',
    PUSHRUN_REGISTRY_ENDPOINT: 'http://registry.test',
  });
  const batch = opts.batch ?? new FakeBatchJobs({answer: createdJob});
  const store = new MemoryRunStore();
  const log = recordingLogger();
  const notified: RunRecord[] = [];
  const notifier: Notifier = {notifyRun: async r => void notified.push(r)};
  const deps = makeDeps(settings, {
    config: parseConfig(CONFIG, 'pushrun.yaml').config!,
    registry: makeRegistry(settings, {
      fetch: servedFetch(image, opts.registryStatus),
      cache: new DigestCache(),
    }),
    batch,
    store,
    notifier,
    log,
  });
  return {deps, batch, store, log, notified};
}

const ok = (status: number) => status >= 200 && status < 300;

let served = 0;

/**
 * Registers `handler` under a fresh name, serves it, POSTs `event` and answers the status. The
 * framework prints a thrown error with console.error: that is kept quiet here, and a retried
 * delivery must have printed one.
 */
async function deliver(
  handler: (event: ff.CloudEvent<unknown>) => Promise<void>,
  event: Record<string, unknown>,
): Promise<number> {
  const name = `handler${++served}`;
  ff.cloudEvent(name, handler);
  const server = getTestServer(name);
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const printed = sinon.stub(console, 'error');
  try {
    const {port} = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: {'Content-Type': 'application/cloudevents+json'},
      body: JSON.stringify(event),
    });
    await res.arrayBuffer();
    assert.strictEqual(
      printed.called,
      !ok(res.status),
      'the framework prints exactly the errors it answers with',
    );
    return res.status;
  } finally {
    printed.restore();
    await new Promise(resolve => server.close(resolve));
  }
}

/** A structured CloudEvent as Eventarc delivers a Pub/Sub message. */
function pubsubEvent(
  payload: unknown,
  attributes: Record<string, string> = {},
  id = 'm-1',
): Record<string, unknown> {
  return {
    specversion: '1.0',
    id,
    source: '//pubsub.googleapis.com/projects/p/topics/gcr',
    type: PUBSUB_MESSAGE_TYPE,
    datacontenttype: 'application/json',
    data: {
      message: {
        data: Buffer.from(
          typeof payload === 'string' ? payload : JSON.stringify(payload),
        ).toString('base64'),
        attributes,
        messageId: id,
        publishTime: new Date().toISOString(),
      },
      subscription: 'projects/p/subscriptions/s',
    },
  };
}

describe('functions/ handlers under functions-framework', () => {
  let image: BuiltImage;
  before(async () => {
    image = await buildImage('clean');
  });
  const push = () =>
    pubsubEvent({
      action: 'INSERT',
      digest: `${IMAGE}@${image.digest}`,
      tag: `${IMAGE}:v1`,
    });
  const jobId = () => `trainer-${image.digest.slice(7, 19)}`;

  describe('onImagePush', () => {
    it('a push creates the job and acknowledges; its redelivery creates nothing more', async () => {
      const w = world(image);
      const handler = makeOnImagePush(w.deps);
      assert.ok(ok(await deliver(handler, push())));
      assert.deepStrictEqual(
        w.batch.created.map(r => r.jobId),
        [jobId()],
      );
      assert.strictEqual(w.store.records.get(jobId())?.state, 'QUEUED');
      assert.ok(ok(await deliver(handler, push())));
      assert.strictEqual(w.batch.created.length, 1);
    });

    const ignored: {name: string; event: () => Record<string, unknown>}[] = [
      {name: 'a body that is not JSON', event: () => pubsubEvent('{nope')},
      {
        name: 'a DELETE',
        event: () => pubsubEvent({action: 'DELETE', tag: `${IMAGE}:v1`}),
      },
      {
        name: 'an image no mapping matches',
        event: () =>
          pubsubEvent({
            action: 'INSERT',
            digest: `us-central1-docker.pkg.dev/p/ml/other@${image.digest}`,
          }),
      },
      {
        name: 'another CloudEvent type',
        event: () => ({
          ...pubsubEvent({action: 'INSERT'}),
          type: 'google.cloud.storage.object.v1.finalized',
        }),
      },
    ];
    for (const c of ignored) {
      it(`acknowledges ${c.name} with one log line and starts nothing`, async () => {
        const w = world(image);
        assert.ok(ok(await deliver(makeOnImagePush(w.deps), c.event())));
        assert.strictEqual(w.batch.created.length, 0);
        assert.strictEqual(w.store.records.size, 0);
        const why = w.log.lines.filter(l =>
          /ignored|no mapping/.test(String(l.message)),
        );
        assert.strictEqual(why.length, 1, JSON.stringify(w.log.lines));
      });
    }

    it('asks for a redelivery when the registry answers 503', async () => {
      const w = world(image, {registryStatus: 503});
      const status = await deliver(makeOnImagePush(w.deps), push());
      assert.ok(!ok(status), `status ${status}`);
      assert.strictEqual(w.batch.created.length, 0);
      assert.strictEqual(w.store.records.size, 0);
    });

    it('asks for a redelivery when Batch is unavailable, and acknowledges a refusal for good', async () => {
      const cases: {error: Error; retried: boolean}[] = [
        {error: new TransientError('UNAVAILABLE'), retried: true},
        {error: new PermanentError('INVALID_ARGUMENT'), retried: false},
      ];
      for (const c of cases) {
        const batch = new FakeBatchJobs({answer: () => c.error});
        const w = world(image, {batch});
        const status = await deliver(makeOnImagePush(w.deps), push());
        assert.strictEqual(!ok(status), c.retried, `${c.error.message}`);
        assert.strictEqual(w.batch.created.length, 1);
        assert.ok(
          w.log.lines.some(
            l => l.severity === 'ERROR' && l.decision !== undefined,
          ),
          JSON.stringify(w.log.lines),
        );
      }
    });
  });

  describe('onJobStateChange', () => {
    const stateMessage = (id: string, state: string) =>
      pubsubEvent(
        {},
        {
          Type: 'JOB_STATE_CHANGED',
          JobName: jobNameOf(id),
          JobUID: `${id}-uid`,
          NewJobState: state,
          Region: 'us-central1',
        },
      );

    it('records the end Batch reports and announces it once', async () => {
      const w = world(image, {batch: new FakeBatchJobs()});
      const id = 'trainer-0123456789ab';
      await w.store.create(runRecord(id));
      w.batch.put(id, 'SUCCEEDED');
      const handler = makeOnJobStateChange(w.deps);
      assert.ok(ok(await deliver(handler, stateMessage(id, 'SUCCEEDED'))));
      assert.ok(ok(await deliver(handler, stateMessage(id, 'SUCCEEDED'))));
      assert.strictEqual(w.store.records.get(id)?.state, 'SUCCEEDED');
      assert.deepStrictEqual(
        w.notified.map(r => [r.id, r.state]),
        [[id, 'SUCCEEDED']],
      );
    });

    it('acknowledges a message that is not a job state change', async () => {
      const w = world(image, {batch: new FakeBatchJobs()});
      const status = await deliver(
        makeOnJobStateChange(w.deps),
        pubsubEvent({}, {Type: 'TASK_STATE_CHANGED'}),
      );
      assert.ok(ok(status));
      assert.strictEqual(w.batch.calls.length, 0);
      assert.ok(w.log.lines.some(l => /ignored/.test(String(l.message))));
    });

    it('asks for a redelivery when Batch cannot be asked', async () => {
      const batch = new FakeBatchJobs();
      batch.error = new TransientError('UNAVAILABLE');
      const w = world(image, {batch});
      const id = 'trainer-0123456789ab';
      await w.store.create(runRecord(id));
      const status = await deliver(
        makeOnJobStateChange(w.deps),
        stateMessage(id, 'RUNNING'),
      );
      assert.ok(!ok(status), `status ${status}`);
      assert.strictEqual(w.store.records.get(id)?.state, 'QUEUED');
    });
  });

  describe('reconcileRuns', () => {
    it('closes a run whose messages were lost, and logs the counts', async () => {
      const w = world(image, {batch: new FakeBatchJobs()});
      const id = 'trainer-0123456789ab';
      await w.store.create(runRecord(id, {createdAt: new Date(0)}));
      w.batch.put(id, 'FAILED');
      const status = await deliver(
        makeReconcileRuns(w.deps),
        pubsubEvent({}, {}, 'tick'),
      );
      assert.ok(ok(status));
      assert.strictEqual(w.store.records.get(id)?.state, 'FAILED');
      const line = w.log.lines.find(l => l.message === 'reconciled open runs');
      assert.strictEqual(line?.changed, 1, JSON.stringify(w.log.lines));
    });
  });
});
