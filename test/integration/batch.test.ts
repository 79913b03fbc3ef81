/**
 * The real Batch adapter (and the real @google-cloud/batch client under it) against the Batch
 * API stand-in over gRPC on loopback.
 */
import * as assert from 'node:assert';
import {parseSettings} from '../../shared/settings';
import * as net from 'node:net';
import {status} from '@grpc/grpc-js';
import {BatchServiceClient} from '@google-cloud/batch';
import {BatchJobs} from '../../shared/batch/jobs';
import {JobState} from '../../shared/batch/job_state';
import {batchClientOptions, makeBatchJobs} from '../../shared/batch/client';
import {PermanentError, TransientError} from '../../shared/errors';
import {
  BatchStandin,
  DEMO_OUTCOME_LABEL,
  startBatchStandin,
} from '../../sandbox/batch_standin';
import {batchStateMessage} from '../../sandbox/batch_messages';

const PARENT = 'projects/demo-project/locations/us-central1';
const IMAGE =
  'us-central1-docker.pkg.dev/demo-project/ml/trainer@sha256:' +
  'ab'.repeat(32);

/** A job like the ones pushrun builds: one container runnable with image streaming. */
function realisticJob(labels: Record<string, string> = {}) {
  return {
    taskGroups: [
      {
        taskCount: 2,
        parallelism: 1,
        taskSpec: {
          runnables: [
            {
              container: {
                imageUri: IMAGE,
                commands: ['python', 'train.py', '--tag=v2.1.0'],
                enableImageStreaming: true,
              },
            },
          ],
          computeResource: {cpuMilli: 2000, memoryMib: 4096},
          maxRunDuration: {seconds: 3600},
          maxRetryCount: 1,
        },
      },
    ],
    allocationPolicy: {
      location: {allowedLocations: ['regions/us-central1']},
      instances: [{policy: {machineType: 'e2-standard-4'}}],
    },
    logsPolicy: {destination: 'CLOUD_LOGGING'},
    labels: {
      'pushrun-mapping': 'trainer',
      'pushrun-digest': 'ab'.repeat(16),
      'pushrun-streaming': 'true',
      ...labels,
    },
    notifications: [
      {
        pubsubTopic: 'projects/demo-project/topics/pushrun-batch-events',
        message: {type: 'JOB_STATE_CHANGED'},
      },
    ],
  };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>(r => srv.listen(0, '127.0.0.1', r));
  const {port} = srv.address() as net.AddressInfo;
  await new Promise(r => srv.close(r));
  return port;
}

describe('Batch adapter against the stand-in', function () {
  this.timeout(20_000);
  let standin: BatchStandin;
  let batch: BatchJobs;
  let seq = 0;
  const nextId = (prefix: string) => `${prefix}-${++seq}`;

  before(async () => {
    standin = await startBatchStandin();
    batch = makeBatchJobs(
      parseSettings({PUSHRUN_BATCH_ENDPOINT: standin.endpoint}),
    );
  });
  after(() => standin.stop());

  it('creates a job and reads it back', async () => {
    const jobId = nextId('trainer-0123456789ab');
    const before = standin.requests.length;
    const out = await batch.createJob({
      parent: PARENT,
      jobId,
      job: realisticJob(),
      requestId: '0d6b7a3e-9b57-4a43-9c57-6f2a1e4b1c11',
    });
    assert.ok(out.created);
    const name = `${PARENT}/jobs/${jobId}`;
    assert.strictEqual(out.job.name, name);
    assert.strictEqual(out.job.state, 'QUEUED');
    assert.match(out.job.uid, /\S/);
    assert.strictEqual(out.job.labels['pushrun-streaming'], 'true');
    assert.ok(out.job.createTime instanceof Date);
    assert.ok(Math.abs(out.job.createTime.getTime() - Date.now()) < 10_000);

    // What went over the wire: every field of the template survived the client's encoding.
    const sent = standin.requests.slice(before);
    assert.deepStrictEqual(
      sent.map(r => r.method),
      ['CreateJob'],
    );
    const req = sent[0].request as {
      parent: string;
      jobId: string;
      requestId: string;
      job: ReturnType<typeof realisticJob>;
    };
    assert.strictEqual(req.parent, PARENT);
    assert.strictEqual(req.jobId, jobId);
    assert.strictEqual(req.requestId, '0d6b7a3e-9b57-4a43-9c57-6f2a1e4b1c11');
    const spec = req.job.taskGroups[0].taskSpec;
    assert.strictEqual(spec.runnables[0].container.enableImageStreaming, true);
    assert.strictEqual(spec.runnables[0].container.imageUri, IMAGE);
    assert.deepStrictEqual(spec.maxRunDuration, {seconds: '3600'});
    assert.strictEqual(req.job.taskGroups[0].taskCount, '2');
    assert.deepStrictEqual(req.job.allocationPolicy.location, {
      allowedLocations: ['regions/us-central1'],
    });
    assert.strictEqual(req.job.logsPolicy.destination, 'CLOUD_LOGGING');
    assert.deepStrictEqual(req.job.notifications, [
      {
        pubsubTopic: 'projects/demo-project/topics/pushrun-batch-events',
        message: {type: 'JOB_STATE_CHANGED'},
      },
    ]);

    const got = await batch.getJob(name);
    assert.ok(got);
    assert.strictEqual(got.uid, out.job.uid);
    assert.strictEqual(got.state, 'QUEUED');
    assert.deepStrictEqual(got.labels, realisticJob().labels);
    assert.deepStrictEqual(got.createTime, out.job.createTime);
  });

  it('reads state, task counts, events and run duration as the stand-in sets them', async () => {
    const jobId = nextId('driven');
    const name = `${PARENT}/jobs/${jobId}`;
    await batch.createJob({parent: PARENT, jobId, job: realisticJob()});
    standin.setState(name, 'RUNNING', {taskCounts: {RUNNING: 2}});
    const running = await batch.getJob(name);
    assert.strictEqual(running?.state, 'RUNNING');
    assert.deepStrictEqual(running?.taskCounts, {RUNNING: 2});
    standin.setState(name, 'FAILED', {taskCounts: {SUCCEEDED: 1, FAILED: 1}});
    const failed = await batch.getJob(name);
    assert.strictEqual(failed?.state, 'FAILED');
    assert.deepStrictEqual(failed?.taskCounts, {SUCCEEDED: 1, FAILED: 1});
    assert.deepStrictEqual(
      failed?.statusEvents.map(e => e.newState),
      ['RUNNING', 'FAILED'],
    );
    assert.strictEqual(typeof failed?.runDurationSeconds, 'number');
    assert.ok(
      failed!.runDurationSeconds! >= 0 && failed!.runDurationSeconds! < 10,
    );
  });

  it('a second create of the same jobId is alreadyExists', async () => {
    const jobId = nextId('dup');
    const first = await batch.createJob({
      parent: PARENT,
      jobId,
      job: realisticJob(),
    });
    const second = await batch.createJob({
      parent: PARENT,
      jobId,
      job: realisticJob(),
    });
    assert.strictEqual(first.created, true);
    assert.deepStrictEqual(second, {created: false, alreadyExists: true});
  });

  it('a retried request (same requestId) gets the job it created', async () => {
    const jobId = nextId('retried');
    const req = {
      parent: PARENT,
      jobId,
      job: realisticJob(),
      requestId: '5b0f3c1e-1111-4c2a-8d3e-000000000001',
    };
    const first = await batch.createJob(req);
    const again = await batch.createJob(req);
    assert.ok(first.created && again.created);
    assert.strictEqual(again.job.uid, first.job.uid);
    const other = await batch.createJob({...req, requestId: undefined});
    assert.deepStrictEqual(other, {created: false, alreadyExists: true});
  });

  it('10 concurrent creates of one jobId: exactly one is created', async () => {
    const jobId = nextId('race');
    const outcomes = await Promise.all(
      Array.from({length: 10}, () =>
        batch.createJob({parent: PARENT, jobId, job: realisticJob()}),
      ),
    );
    assert.strictEqual(outcomes.filter(o => o.created).length, 1);
    assert.strictEqual(
      outcomes.filter(o => !o.created && o.alreadyExists).length,
      9,
    );
    assert.strictEqual(
      [...standin.jobs.keys()].filter(k => k.endsWith(`/jobs/${jobId}`)).length,
      1,
    );
  });

  it('UNAVAILABLE on create → TransientError, one attempt only', async () => {
    const jobId = nextId('unavailable');
    standin.failNext('CreateJob', status.UNAVAILABLE, 1);
    const before = standin.requests.length;
    await assert.rejects(
      batch.createJob({parent: PARENT, jobId, job: realisticJob()}),
      (err: Error) =>
        err instanceof TransientError &&
        (err.cause as {code?: number}).code === status.UNAVAILABLE,
    );
    // No gax retry: redelivery by Pub/Sub is the retry.
    assert.strictEqual(standin.requests.length - before, 1);
    assert.strictEqual(
      await batch.getJob(`${PARENT}/jobs/${jobId}`),
      undefined,
    );
  });

  it('an invalid jobId → PermanentError (INVALID_ARGUMENT)', async () => {
    await assert.rejects(
      batch.createJob({parent: PARENT, jobId: 'Bad_Id', job: realisticJob()}),
      (err: Error) =>
        err instanceof PermanentError &&
        (err.cause as {code?: number}).code === status.INVALID_ARGUMENT &&
        /job_id/.test(err.message),
    );
  });

  it('an invalid label and a bad parent → PermanentError', async () => {
    await assert.rejects(
      batch.createJob({
        parent: PARENT,
        jobId: nextId('label'),
        job: realisticJob({'Bad Key': 'x'}),
      }),
      PermanentError,
    );
    await assert.rejects(
      batch.createJob({
        parent: 'projects/p',
        jobId: nextId('parent'),
        job: realisticJob(),
      }),
      PermanentError,
    );
  });

  it('getJob of a missing job → undefined', async () => {
    assert.strictEqual(
      await batch.getJob(`${PARENT}/jobs/no-such-job`),
      undefined,
    );
  });

  it('getJob retries UNAVAILABLE briefly, then gives up with TransientError', async () => {
    const jobId = nextId('flaky');
    const name = `${PARENT}/jobs/${jobId}`;
    await batch.createJob({parent: PARENT, jobId, job: realisticJob()});
    let before = standin.requests.length;
    standin.failNext('GetJob', status.UNAVAILABLE, 1);
    assert.strictEqual((await batch.getJob(name))?.name, name);
    assert.strictEqual(standin.requests.length - before, 2);

    before = standin.requests.length;
    standin.failNext('GetJob', status.UNAVAILABLE, 3);
    await assert.rejects(batch.getJob(name), TransientError);
    assert.strictEqual(standin.requests.length - before, 3); // first try + 2 retries
  });

  it('an endpoint nobody listens on fails fast with TransientError', async () => {
    const dead = makeBatchJobs(
      parseSettings({
        PUSHRUN_BATCH_ENDPOINT: `127.0.0.1:${await closedPort()}`,
      }),
    );
    const t0 = Date.now();
    await assert.rejects(
      dead.createJob({parent: PARENT, jobId: 'dead-1', job: realisticJob()}),
      TransientError,
    );
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
  });

  it('also serves ListJobs and DeleteJob; other methods are UNIMPLEMENTED', async () => {
    const client = new BatchServiceClient(
      batchClientOptions(
        parseSettings({PUSHRUN_BATCH_ENDPOINT: standin.endpoint}),
      ),
    );
    try {
      const jobId = nextId('listed');
      await batch.createJob({parent: PARENT, jobId, job: realisticJob()});
      const [jobs] = await client.listJobs(
        {parent: PARENT},
        {autoPaginate: true},
      );
      assert.ok(jobs.some(j => j.name === `${PARENT}/jobs/${jobId}`));
      const [op] = await client.deleteJob({name: `${PARENT}/jobs/${jobId}`});
      await op.promise();
      assert.strictEqual(
        await batch.getJob(`${PARENT}/jobs/${jobId}`),
        undefined,
      );
      await assert.rejects(
        client.getTask({name: `${PARENT}/jobs/x/taskGroups/group0/tasks/0`}),
        (err: {code?: number}) => err.code === status.UNIMPLEMENTED,
      );
    } finally {
      await client.close();
    }
  });
});

describe('Batch stand-in lifecycle mode', function () {
  this.timeout(20_000);
  let standin: BatchStandin;
  let batch: BatchJobs;
  const seen: {name: string; state: JobState; recorded: JobState}[] = [];

  before(async () => {
    standin = await startBatchStandin({
      lifecycle: {
        stepMs: 30,
        onStateChange: async (job, newState) => {
          // The callback sees the job already in its new state, as a getJob would.
          seen.push({
            name: job.name,
            state: newState,
            recorded: job.status.state,
          });
          await new Promise(r => setTimeout(r, 5));
        },
      },
    });
    batch = makeBatchJobs(
      parseSettings({PUSHRUN_BATCH_ENDPOINT: standin.endpoint}),
    );
  });
  after(() => standin.stop());

  const cases: {name: string; labels: Record<string, string>; end: JobState}[] =
    [
      {name: 'reaches SUCCEEDED', labels: {}, end: 'SUCCEEDED'},
      {
        name: `reaches FAILED with ${DEMO_OUTCOME_LABEL}: failed`,
        labels: {[DEMO_OUTCOME_LABEL]: 'failed'},
        end: 'FAILED',
      },
    ];
  for (const c of cases) {
    it(c.name, async () => {
      const jobId = `life-${c.end.toLowerCase()}`;
      const name = `${PARENT}/jobs/${jobId}`;
      const out = await batch.createJob({
        parent: PARENT,
        jobId,
        job: realisticJob(c.labels),
      });
      assert.ok(out.created);
      assert.strictEqual(out.job.state, 'QUEUED');
      await standin.settled();
      assert.deepStrictEqual(standin.callbackErrors, []);
      const mine = seen.filter(s => s.name === name);
      assert.deepStrictEqual(
        mine.map(s => s.state),
        ['SCHEDULED', 'RUNNING', c.end],
      );
      assert.deepStrictEqual(
        mine.map(s => s.recorded),
        mine.map(s => s.state),
      );
      const job = await batch.getJob(name);
      assert.strictEqual(job?.state, c.end);
      assert.deepStrictEqual(job?.taskCounts, {[c.end]: 2});
      assert.deepStrictEqual(
        job?.statusEvents.map(e => e.newState),
        ['SCHEDULED', 'RUNNING', c.end],
      );
      assert.ok(job!.runDurationSeconds! > 0);
      const msg = batchStateMessage(job!, c.end);
      assert.strictEqual(msg.attributes.JobUID, out.job.uid);
      assert.strictEqual(msg.attributes.Region, 'us-central1');
    });
  }
});
