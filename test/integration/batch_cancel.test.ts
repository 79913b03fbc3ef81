/**
 * CancelJob through the real Batch adapter and the real @google-cloud/batch client, against the
 * stand-in over gRPC: the states a cancel walks, the state messages it sends, the operation it
 * answers with, and the refusals Batch makes.
 */
import * as assert from 'node:assert';
import {status} from '@grpc/grpc-js';
import {BatchServiceClient} from '@google-cloud/batch';
import {parseSettings} from '../../shared/settings';
import type {BatchJobs} from '../../shared/batch/jobs';
import type {JobState} from '../../shared/batch/job_state';
import {batchClientOptions, makeBatchJobs} from '../../shared/batch/client';
import {TransientError} from '../../shared/errors';
import {
  startBatchStandin,
  type BatchStandin,
} from '../../sandbox/batch_standin';

const PARENT = 'projects/demo-project/locations/us-central1';

const job = () => ({
  taskGroups: [
    {taskCount: 3, taskSpec: {runnables: [{container: {imageUri: 'busybox'}}]}},
  ],
  labels: {'pushrun-mapping': 'trainer'},
});

describe('Batch CancelJob against the stand-in', function () {
  this.timeout(20_000);
  let standin: BatchStandin;
  let batch: BatchJobs;
  let seq = 0;
  const seen: {name: string; state: JobState; recorded: JobState}[] = [];

  before(async () => {
    standin = await startBatchStandin({
      lifecycle: {
        // Slow enough that a job is still QUEUED when the test cancels it.
        stepMs: 300,
        onStateChange: (j, state) => {
          seen.push({name: j.name, state, recorded: j.status.state});
        },
      },
    });
    batch = makeBatchJobs(
      parseSettings({PUSHRUN_BATCH_ENDPOINT: standin.endpoint}),
    );
  });
  after(() => standin.stop());

  async function created(): Promise<string> {
    const jobId = `cancel-${++seq}`;
    const out = await batch.createJob({parent: PARENT, jobId, job: job()});
    assert.ok(out.created);
    return out.job.name;
  }

  const cases: {name: string; from?: JobState}[] = [
    {name: 'a QUEUED job'},
    {name: 'a SCHEDULED job', from: 'SCHEDULED'},
    {name: 'a RUNNING job', from: 'RUNNING'},
  ];
  for (const c of cases) {
    it(`cancels ${c.name}: CANCELLATION_IN_PROGRESS, then CANCELLED, with state messages`, async () => {
      const name = await created();
      if (c.from) standin.setState(name, c.from);
      assert.strictEqual(await batch.cancelJob(name), 'cancelling');
      assert.strictEqual(
        (await batch.getJob(name))?.state,
        'CANCELLATION_IN_PROGRESS',
      );
      await standin.settled();
      assert.deepStrictEqual(standin.callbackErrors, []);
      const job = await batch.getJob(name);
      assert.strictEqual(job?.state, 'CANCELLED');
      assert.deepStrictEqual(job?.taskCounts, {CANCELLED: 3});
      // The lifecycle stops: no SCHEDULED or SUCCEEDED after the cancel.
      const mine = seen.filter(s => s.name === name);
      assert.deepStrictEqual(
        mine.map(s => s.state),
        ['CANCELLATION_IN_PROGRESS', 'CANCELLED'],
      );
      assert.deepStrictEqual(
        mine.map(s => s.recorded),
        mine.map(s => s.state),
      );
      const cancels = standin.requests.filter(r => r.method === 'CancelJob');
      assert.strictEqual(cancels.at(-1)?.request.name, name);
    });
  }

  it('answers with a running operation carrying OperationMetadata', async () => {
    const name = await created();
    const client = new BatchServiceClient(
      batchClientOptions(
        parseSettings({PUSHRUN_BATCH_ENDPOINT: standin.endpoint}),
      ),
    );
    try {
      const [op] = await client.cancelJob({name});
      assert.strictEqual(op.done, false);
      assert.match(
        String(op.name),
        /^projects\/demo-project\/locations\/us-central1\/operations\/\S+$/,
      );
      // gax decodes the metadata with the OperationMetadata type the proto names.
      const metadata = op.metadata as {verb?: string; target?: string} | null;
      assert.strictEqual(metadata?.verb, 'cancel');
      assert.strictEqual(metadata?.target, name);
    } finally {
      await client.close();
    }
    await standin.settled();
  });

  it('refuses a job that has ended, as Batch does (FAILED_PRECONDITION)', async () => {
    for (const end of ['SUCCEEDED', 'FAILED', 'CANCELLED'] as const) {
      const name = await created();
      standin.setState(name, end);
      assert.strictEqual(await batch.cancelJob(name), 'not-cancellable', end);
      assert.strictEqual((await batch.getJob(name))?.state, end);
    }
    await standin.settled();
  });

  it('answers not-found for a job Batch does not have', async () => {
    assert.strictEqual(
      await batch.cancelJob(`${PARENT}/jobs/never-made`),
      'not-found',
    );
  });

  it('reads the name strictly, as Batch does', async () => {
    await assert.rejects(batch.cancelJob('trainer-1'), /name must be projects/);
  });

  it('turns UNAVAILABLE into a TransientError', async () => {
    const name = await created();
    standin.failNext('CancelJob', status.UNAVAILABLE);
    await assert.rejects(batch.cancelJob(name), TransientError);
    assert.strictEqual((await batch.getJob(name))?.state, 'QUEUED');
    await standin.settled();
  });
});
