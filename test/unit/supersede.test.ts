import * as assert from 'node:assert';
import type {JobState} from '../../shared/batch/job_state';
import type {SupersedePolicy} from '../../shared/config/types';
import {PermanentError, TransientError} from '../../shared/errors';
import {buildRunNotification, type Notifier} from '../../shared/notify';
import {MemoryRunStore} from '../../shared/runs/memory_store';
import type {RunRecord} from '../../shared/runs/record';
import {syncJob} from '../../shared/runs/sync';
import {policyCancels, supersedeOlderRuns} from '../../shared/supersede';
import {
  FakeBatchJobs,
  jobNameOf,
  recordingLogger,
  runRecord,
} from '../support/fixtures';

const NEW = 'trainer-bbbbbbbbbbbb';
const at = (minute: number) =>
  new Date(`2026-01-01T00:${String(minute).padStart(2, '0')}:00Z`);

function setup() {
  const store = new MemoryRunStore();
  const batch = new FakeBatchJobs();
  const log = recordingLogger();
  const deps = {store, batch, log, now: () => at(30)};
  /** A run of the trainer mapping: its record in `recordState`, its job in Batch in `state`. */
  const run = (
    id: string,
    state: JobState,
    extra: Partial<RunRecord> & {recordState?: JobState} = {},
  ) => {
    const {recordState, ...rest} = extra;
    store.records.set(
      id,
      runRecord(id, {state: recordState ?? state, createdAt: at(1), ...rest}),
    );
    batch.put(id, state);
  };
  run(NEW, 'QUEUED', {createdAt: at(10)});
  return {store, batch, log, deps, run};
}

describe('policyCancels', () => {
  const cases: {policy: SupersedePolicy; state: JobState; want: boolean}[] = [
    {policy: 'none', state: 'QUEUED', want: false},
    {policy: 'queued', state: 'QUEUED', want: true},
    {policy: 'queued', state: 'SCHEDULED', want: true},
    {policy: 'queued', state: 'RUNNING', want: false},
    {policy: 'running', state: 'RUNNING', want: true},
    {policy: 'running', state: 'SUCCEEDED', want: false},
    {policy: 'running', state: 'CANCELLATION_IN_PROGRESS', want: false},
  ];
  for (const c of cases) {
    it(`${c.policy} ${c.want ? 'cancels' : 'keeps'} a ${c.state} job`, () => {
      assert.strictEqual(policyCancels(c.policy, c.state), c.want);
    });
  }
});

describe('supersedeOlderRuns', () => {
  const cases: {
    name: string;
    policy: SupersedePolicy;
    state: JobState;
    recordState?: JobState;
    cancelled: boolean;
  }[] = [
    {
      name: 'queued cancels a QUEUED run',
      policy: 'queued',
      state: 'QUEUED',
      cancelled: true,
    },
    {
      name: 'queued cancels a SCHEDULED run',
      policy: 'queued',
      state: 'SCHEDULED',
      cancelled: true,
    },
    {
      name: 'queued leaves a RUNNING run',
      policy: 'queued',
      state: 'RUNNING',
      cancelled: false,
    },
    {
      name: 'running cancels a RUNNING run',
      policy: 'running',
      state: 'RUNNING',
      cancelled: true,
    },
    {
      name: 'none cancels nothing',
      policy: 'none',
      state: 'QUEUED',
      cancelled: false,
    },
    {
      name: "Batch's state decides, not the record's (record QUEUED, job RUNNING)",
      policy: 'queued',
      state: 'RUNNING',
      recordState: 'QUEUED',
      cancelled: false,
    },
    {
      name: "Batch's state decides, not the record's (record RUNNING, job SCHEDULED)",
      policy: 'queued',
      state: 'SCHEDULED',
      recordState: 'RUNNING',
      cancelled: true,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const {store, batch, deps, run} = setup();
      run('trainer-aaaaaaaaaaaa', c.state, {
        ...(c.recordState && {recordState: c.recordState}),
      });
      const done = await supersedeOlderRuns(NEW, c.policy, deps);
      const old = store.records.get('trainer-aaaaaaaaaaaa')!;
      if (c.cancelled) {
        assert.deepStrictEqual(done, [
          {jobId: 'trainer-aaaaaaaaaaaa', state: c.state},
        ]);
        assert.deepStrictEqual(batch.cancelled, [
          jobNameOf('trainer-aaaaaaaaaaaa'),
        ]);
        assert.strictEqual(old.supersededBy, NEW);
      } else {
        assert.deepStrictEqual(done, []);
        assert.deepStrictEqual(batch.cancelled, []);
        assert.strictEqual(old.supersededBy, undefined);
      }
    });
  }

  it('never touches other images, other mappings, newer runs or finished runs', async () => {
    const {store, batch, deps, run} = setup();
    run('trainer-other-image', 'QUEUED', {
      image: 'us-central1-docker.pkg.dev/p/ml/evaluator',
    });
    run('other-mapping', 'QUEUED', {mapping: 'eval'});
    run('trainer-newer', 'QUEUED', {createdAt: at(20)});
    run('trainer-finished', 'SUCCEEDED');
    run('trainer-older', 'QUEUED');
    const done = await supersedeOlderRuns(NEW, 'running', deps);
    assert.deepStrictEqual(done, [{jobId: 'trainer-older', state: 'QUEUED'}]);
    assert.deepStrictEqual(batch.cancelled, [jobNameOf('trainer-older')]);
    for (const id of [
      'trainer-other-image',
      'other-mapping',
      'trainer-newer',
      'trainer-finished',
    ])
      assert.strictEqual(store.records.get(id)!.supersededBy, undefined, id);
  });

  it('a redelivery cancels nothing new', async () => {
    const {batch, deps, run} = setup();
    run('trainer-aaaaaaaaaaaa', 'QUEUED');
    await supersedeOlderRuns(NEW, 'queued', deps);
    const again = await supersedeOlderRuns(NEW, 'queued', deps);
    assert.deepStrictEqual(again, [
      {jobId: 'trainer-aaaaaaaaaaaa', state: 'CANCELLATION_IN_PROGRESS'},
    ]);
    assert.strictEqual(batch.cancelled.length, 1);
  });

  it('a run superseded itself cancels nothing', async () => {
    const {store, batch, deps, run} = setup();
    run('trainer-aaaaaaaaaaaa', 'QUEUED');
    store.records.set(NEW, {
      ...store.records.get(NEW)!,
      supersededBy: 'trainer-cccccccccccc',
    });
    assert.deepStrictEqual(await supersedeOlderRuns(NEW, 'queued', deps), []);
    assert.deepStrictEqual(batch.cancelled, []);
  });

  it('a failed cancel throws TransientError, keeps the mark, and the retry cancels', async () => {
    const {store, batch, deps, run} = setup();
    run('trainer-aaaaaaaaaaaa', 'QUEUED');
    batch.cancelError = new TransientError(
      'Batch cancelJob failed: UNAVAILABLE',
    );
    await assert.rejects(
      supersedeOlderRuns(NEW, 'queued', deps),
      (e: Error) =>
        e instanceof TransientError &&
        /superseding its older runs/.test(e.message),
    );
    assert.strictEqual(
      store.records.get('trainer-aaaaaaaaaaaa')!.supersededBy,
      NEW,
    );
    batch.cancelError = undefined;
    const done = await supersedeOlderRuns(NEW, 'queued', deps);
    assert.deepStrictEqual(done, [
      {jobId: 'trainer-aaaaaaaaaaaa', state: 'QUEUED'},
    ]);
    assert.strictEqual(
      batch.jobs.get(jobNameOf('trainer-aaaaaaaaaaaa'))!.state,
      'CANCELLATION_IN_PROGRESS',
    );
  });

  it('gives the mark back when the job ended before the retry, or Batch refuses for good', async () => {
    const {store, batch, deps, run} = setup();
    run('trainer-aaaaaaaaaaaa', 'QUEUED', {supersededBy: NEW});
    batch.put('trainer-aaaaaaaaaaaa', 'SUCCEEDED');
    run('trainer-dddddddddddd', 'QUEUED');
    batch.cancelError = new PermanentError(
      'Batch cancelJob: PERMISSION_DENIED',
    );
    assert.deepStrictEqual(await supersedeOlderRuns(NEW, 'queued', deps), []);
    for (const id of ['trainer-aaaaaaaaaaaa', 'trainer-dddddddddddd'])
      assert.strictEqual(store.records.get(id)!.supersededBy, undefined, id);
  });

  it('the cancelled run is announced as run.superseded', async () => {
    const {store, batch, deps, run} = setup();
    run('trainer-aaaaaaaaaaaa', 'QUEUED');
    await supersedeOlderRuns(NEW, 'queued', deps);
    batch.put('trainer-aaaaaaaaaaaa', 'CANCELLED');
    const sent: RunRecord[] = [];
    const notifier: Notifier = {notifyRun: async r => void sent.push(r)};
    const job = (await batch.getJob(jobNameOf('trainer-aaaaaaaaaaaa')))!;
    await syncJob(job, {...deps, notifier});
    assert.strictEqual(sent.length, 1);
    assert.strictEqual(
      buildRunNotification(sent[0]).attributes.type,
      'run.superseded',
    );
    assert.strictEqual(
      store.records.get('trainer-aaaaaaaaaaaa')!.state,
      'CANCELLED',
    );
  });
});
