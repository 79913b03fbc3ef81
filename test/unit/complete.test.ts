import * as assert from 'node:assert';
import {
  FakeBatchJobs,
  recordingLogger,
  runRecord as baseRecord,
} from '../support/fixtures';
import {PUBSUB_MESSAGE_TYPE as PUBSUB} from '../../shared/cloud_event';
import {JobState} from '../../shared/batch/job_state';
import {CompletionDeps, recordJobState} from '../../shared/runs/sync';
import {JobStateHint, decodeJobStateHint} from '../../shared/events';
import {finishAndNotify} from '../../shared/runs/announce';
import {reconcileRuns} from '../../shared/reconcile';
import {PermanentError, TransientError} from '../../shared/errors';
import {Notifier} from '../../shared/notify';
import {MemoryRunStore} from '../../shared/runs/memory_store';
import {RunRecord} from '../../shared/runs/record';

const T0 = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const NAME = (id: string) => `projects/p/locations/us-central1/jobs/${id}`;

/** Keeps what it was asked to send; can be told to fail. */
class RecordingNotifier implements Notifier {
  readonly sent: RunRecord[] = [];
  failures = 0;
  async notifyRun(record: RunRecord) {
    if (this.failures > 0) {
      this.failures--;
      throw new TransientError('topic unavailable');
    }
    this.sent.push(record);
  }
}

function setup(now = at(100)) {
  const batch = new FakeBatchJobs();
  const store = new MemoryRunStore();
  const notifier = new RecordingNotifier();
  const log = recordingLogger();
  const deps: CompletionDeps = {batch, store, notifier, log, now: () => now};
  return {batch, store, notifier, log, deps};
}

function hint(id: string, newState?: JobState, eventId = 'e1'): JobStateHint {
  return {
    jobName: NAME(id),
    jobId: id,
    eventId,
    ...(newState ? {newState} : {}),
  };
}

const runRecord = (id: string, extra: Partial<RunRecord> = {}) =>
  baseRecord(id, {
    createdAt: at(0),
    history: [{state: 'QUEUED', at: at(0)}],
    ...extra,
  });

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64');
const ATTRS = {
  Type: 'JOB_STATE_CHANGED',
  JobName: 'projects/p/locations/us-central1/jobs/trainer-0123456789ab',
  JobUID: 'trainer-0123-uid',
  NewJobState: 'RUNNING',
  Region: 'us-central1',
};
const event = (attributes: unknown, extra: Record<string, unknown> = {}) => ({
  id: 'evt-1',
  type: PUBSUB,
  data: {
    message: {
      attributes,
      data: Buffer.from('Job state was updated').toString('base64'),
      messageId: 'm-1',
      ...extra,
    },
  },
});

describe('decodeJobStateHint', () => {
  const PROJECT = 'p';
  const ignored: {
    name: string;
    event: unknown;
    project?: string;
    reason: RegExp;
  }[] = [
    {name: 'null', event: null, reason: /not an object/},
    {name: 'a string', event: 'hello', reason: /not an object/},
    {
      name: 'no data',
      event: {id: 'x', type: PUBSUB},
      reason: /no data.message/,
    },
    {
      name: 'data is not JSON',
      event: {id: 'x', type: PUBSUB, data: '{oops'},
      reason: /no data.message/,
    },
    {
      name: 'data is an array',
      event: {id: 'x', type: PUBSUB, data: [1]},
      reason: /no data.message/,
    },
    {
      name: 'message is a string',
      event: {id: 'x', type: PUBSUB, data: {message: 'm'}},
      reason: /no data.message/,
    },
    {
      name: 'no attributes',
      event: event(undefined),
      reason: /type null is not JOB_STATE_CHANGED/,
    },
    {
      name: 'attributes is an array',
      event: event(['Type']),
      reason: /not JOB_STATE_CHANGED/,
    },
    {
      name: 'a valid message in another CloudEvent type',
      event: {
        ...event(ATTRS),
        type: 'google.cloud.storage.object.v1.finalized',
      },
      reason: /CloudEvent type is "google.cloud.storage.object.v1.finalized"/,
    },
    {
      name: 'task state change',
      event: event({...ATTRS, Type: 'TASK_STATE_CHANGED'}),
      reason: /"TASK_STATE_CHANGED" is not/,
    },
    {
      name: 'Type not a string',
      event: event({...ATTRS, Type: 1}),
      reason: /not JOB_STATE_CHANGED/,
    },
    {
      name: 'no JobName',
      event: event({...ATTRS, JobName: undefined}),
      reason: /no JobName/,
    },
    {
      name: 'empty JobName',
      event: event({...ATTRS, JobName: ''}),
      reason: /no JobName/,
    },
    {
      name: 'JobName not a name',
      event: event({...ATTRS, JobName: 'Bad Name/x'}),
      reason: /not a job name/,
    },
    {
      name: 'bare JobName without Region',
      event: event({...ATTRS, JobName: 'trainer-1', Region: undefined}),
      reason: /no Region/,
    },
    {
      name: 'bare JobName without project',
      event: event({...ATTRS, JobName: 'trainer-1'}),
      project: '',
      reason: /GOOGLE_CLOUD_PROJECT/,
    },
  ];
  for (const c of ignored) {
    it(`ignores ${c.name}`, () => {
      const d = decodeJobStateHint(c.event, c.project ?? PROJECT);
      assert.strictEqual(d.kind, 'ignore');
      if (d.kind === 'ignore') assert.match(d.reason, c.reason);
    });
  }

  const hints: {name: string; event: unknown; want: JobStateHint}[] = [
    {
      name: 'a full job name',
      event: event(ATTRS),
      want: {
        jobName: ATTRS.JobName,
        jobId: 'trainer-0123456789ab',
        jobUid: 'trainer-0123-uid',
        newState: 'RUNNING',
        region: 'us-central1',
        eventId: 'evt-1',
      },
    },
    {
      name: 'a bare job id, completed with Region and project',
      event: event({
        ...ATTRS,
        JobName: 'trainer-0123456789ab',
        Region: 'europe-west4',
      }),
      want: {
        jobName: 'projects/p/locations/europe-west4/jobs/trainer-0123456789ab',
        jobId: 'trainer-0123456789ab',
        jobUid: 'trainer-0123-uid',
        newState: 'RUNNING',
        region: 'europe-west4',
        eventId: 'evt-1',
      },
    },
    {
      name: 'data as a JSON string, messageId as the event id, unknown state dropped',
      event: {
        type: PUBSUB,
        data: JSON.stringify({
          message: {
            attributes: {...ATTRS, NewJobState: 'PAUSED', JobUID: undefined},
            messageId: 'm-9',
          },
        }),
      },
      want: {
        jobName: ATTRS.JobName,
        jobId: 'trainer-0123456789ab',
        region: 'us-central1',
        eventId: 'm-9',
      },
    },
    {
      name: 'data as bytes',
      event: {
        id: 'b',
        type: PUBSUB,
        data: Buffer.from(JSON.stringify(event(ATTRS).data)),
      },
      want: {
        jobName: ATTRS.JobName,
        jobId: 'trainer-0123456789ab',
        jobUid: 'trainer-0123-uid',
        newState: 'RUNNING',
        region: 'us-central1',
        eventId: 'b',
      },
    },
    {
      name: 'facts in a JSON body when attributes are absent',
      event: {
        id: 'j',
        type: PUBSUB,
        data: {
          message: {
            data: b64({
              Type: 'JOB_STATE_CHANGED',
              JobName: ATTRS.JobName,
              NewJobState: 'SUCCEEDED',
            }),
          },
        },
      },
      want: {
        jobName: ATTRS.JobName,
        jobId: 'trainer-0123456789ab',
        newState: 'SUCCEEDED',
        region: 'us-central1',
        eventId: 'j',
      },
    },
  ];
  for (const c of hints) {
    it(`decodes ${c.name}`, () => {
      assert.deepStrictEqual(decodeJobStateHint(c.event, PROJECT), {
        kind: 'hint',
        hint: c.want,
      });
    });
  }
});

describe('recordJobState', () => {
  it('ignores a job Batch does not know', async () => {
    const {deps, store, log} = setup();
    const out = await recordJobState(hint('gone'), deps);
    assert.deepStrictEqual(out, {
      kind: 'ignored',
      reason: 'job not found in Batch',
      jobId: 'gone',
    });
    assert.strictEqual(store.records.size, 0);
    assert.strictEqual(log.lines[0].eventId, 'e1');
  });

  it('ignores a job pushrun did not launch', async () => {
    const {deps, batch, store, notifier, log} = setup();
    batch.put('other', 'SUCCEEDED', {labels: {team: 'x'}});
    const out = await recordJobState(hint('other', 'SUCCEEDED'), deps);
    assert.strictEqual(out.kind, 'ignored');
    assert.strictEqual(store.records.size, 0);
    assert.strictEqual(notifier.sent.length, 0);
    assert.deepStrictEqual(
      {
        jobId: log.lines[0].jobId,
        state: log.lines[0].state,
        eventId: log.lines[0].eventId,
      },
      {jobId: 'other', state: 'SUCCEEDED', eventId: 'e1'},
    );
  });

  it('uses getJob, not the hint: a stale RUNNING hint records SUCCEEDED', async () => {
    const {deps, batch, store, notifier} = setup();
    await store.create(runRecord('j'));
    batch.put('j', 'SUCCEEDED', {
      statusEvents: [
        {newState: 'RUNNING', eventTime: at(10)},
        {newState: 'SUCCEEDED', eventTime: at(70)},
      ],
      taskCounts: {SUCCEEDED: 1},
      runDurationSeconds: 58,
    });
    const out = await recordJobState(hint('j', 'RUNNING'), deps);
    assert.deepStrictEqual(out, {
      kind: 'recorded',
      jobId: 'j',
      state: 'SUCCEEDED',
      changed: true,
      created: false,
      notified: true,
    });
    const r = (await store.get('j'))!;
    assert.strictEqual(r.startedAt?.getTime(), at(10).getTime());
    assert.strictEqual(r.finishedAt?.getTime(), at(70).getTime());
    assert.strictEqual(r.durationSeconds, 58);
    assert.strictEqual(r.jobUid, 'j-uid');
    assert.ok(r.notifiedAt);
    assert.strictEqual(r.notifyClaim, undefined);
    assert.deepStrictEqual(
      notifier.sent.map(s => s.state),
      ['SUCCEEDED'],
    );
  });

  it('announces a finished run once across duplicate deliveries', async () => {
    const {deps, batch, store, notifier} = setup();
    await store.create(runRecord('j'));
    batch.put('j', 'FAILED');
    await recordJobState(hint('j', 'FAILED', 'e1'), deps);
    const again = await recordJobState(hint('j', 'FAILED', 'e2'), deps);
    assert.strictEqual(again.kind === 'recorded' && again.notified, false);
    assert.strictEqual(notifier.sent.length, 1);
  });

  it('a concurrent duplicate finds the claim taken and asks for redelivery', async () => {
    const {deps, batch, store, notifier} = setup();
    await store.create(runRecord('j'));
    batch.put('j', 'SUCCEEDED');
    const results = await Promise.allSettled([
      recordJobState(hint('j', 'SUCCEEDED', 'e1'), deps),
      recordJobState(hint('j', 'SUCCEEDED', 'e2'), deps),
    ]);
    const rejected = results.filter(r => r.status === 'rejected');
    assert.strictEqual(notifier.sent.length, 1);
    for (const r of rejected)
      assert.ok((r as PromiseRejectedResult).reason instanceof TransientError);
    // The redelivery acknowledges quietly.
    const redelivered = await recordJobState(
      hint('j', 'SUCCEEDED', 'e2'),
      deps,
    );
    assert.strictEqual(redelivered.kind, 'recorded');
    assert.strictEqual(notifier.sent.length, 1);
  });

  it('a failed publish gives the claim back and throws; the redelivery announces', async () => {
    const {deps, batch, store, notifier} = setup();
    await store.create(runRecord('j'));
    batch.put('j', 'SUCCEEDED');
    notifier.failures = 1;
    await assert.rejects(recordJobState(hint('j'), deps), TransientError);
    const mid = (await store.get('j'))!;
    assert.strictEqual(mid.state, 'SUCCEEDED');
    assert.strictEqual(mid.notifiedAt, undefined);
    assert.strictEqual(mid.notifyClaim, undefined);
    await recordJobState(hint('j'), deps);
    assert.strictEqual(notifier.sent.length, 1);
    assert.ok((await store.get('j'))!.notifiedAt);
  });

  it('takes over a claim whose holder died once the lease is over', async () => {
    const {deps, batch, store, notifier} = setup(at(100));
    await store.create(
      runRecord('j', {
        state: 'SUCCEEDED',
        notifyClaim: {token: 'dead', at: at(10)},
      }),
    );
    batch.put('j', 'SUCCEEDED');
    await assert.rejects(
      recordJobState(hint('j'), {...deps, notifyLeaseMs: 200_000}),
      TransientError,
    );
    assert.strictEqual(notifier.sent.length, 0);
    await recordJobState(hint('j'), {...deps, notifyLeaseMs: 60_000});
    assert.strictEqual(notifier.sent.length, 1);
  });

  it('creates the record from the job labels when there is none', async () => {
    const {deps, batch, store, notifier} = setup();
    batch.put('trainer-0123456789ab', 'RUNNING', {
      statusEvents: [{newState: 'RUNNING', eventTime: at(5)}],
    });
    const out = await recordJobState(hint('trainer-0123456789ab'), deps);
    assert.strictEqual(out.kind === 'recorded' && out.created, true);
    const r = (await store.get('trainer-0123456789ab'))!;
    assert.strictEqual(r.mapping, 'trainer');
    assert.strictEqual(r.digest, 'sha256:0123456789abcdef0123456789abcdef');
    assert.strictEqual(r.streaming.enabled, true);
    assert.strictEqual(r.state, 'RUNNING');
    assert.strictEqual(r.region, 'us-central1');
    assert.strictEqual(r.launchedAt?.getTime(), at(1).getTime());
    assert.match(
      r.consoleUrl!,
      /jobs\/trainer-0123456789ab\/details\?project=p$/,
    );
    assert.strictEqual(notifier.sent.length, 0);
  });

  it('throws on a transient Batch fault, acknowledges a permanent one', async () => {
    const {deps, batch, log} = setup();
    batch.error = new TransientError('Batch getJob failed: 14 UNAVAILABLE');
    await assert.rejects(recordJobState(hint('j'), deps), TransientError);
    batch.error = new PermanentError(
      'Batch getJob failed: 7 PERMISSION_DENIED',
    );
    const out = await recordJobState(hint('j'), deps);
    assert.strictEqual(out.kind, 'ignored');
    assert.strictEqual(log.lines.at(-1)?.severity, 'ERROR');
  });

  it('logs one line per decision with eventId, jobId and state', async () => {
    const {deps, batch, store, log} = setup();
    await store.create(runRecord('j'));
    batch.put('j', 'SCHEDULED');
    await recordJobState(hint('j', 'SCHEDULED', 'evt-42'), deps);
    const decision = log.lines.filter(l => l.eventId === 'evt-42');
    assert.strictEqual(decision.length, 1);
    assert.deepStrictEqual(
      [decision[0].jobId, decision[0].state, decision[0].previousState],
      ['j', 'SCHEDULED', 'QUEUED'],
    );
  });
});

describe('finishAndNotify', () => {
  it('announces a skipped push once', async () => {
    const {deps, store, notifier} = setup();
    const skip = runRecord('skip-trainer-0123456789ab', {
      state: 'SKIPPED',
      jobName: undefined,
      history: [],
    });
    await store.create(skip);
    assert.strictEqual(await finishAndNotify(skip.id, deps), 'notified');
    assert.strictEqual(await finishAndNotify(skip.id, deps), 'not-needed');
    assert.strictEqual(await finishAndNotify('nope', deps), 'missing');
    assert.deepStrictEqual(
      notifier.sent.map(r => r.state),
      ['SKIPPED'],
    );
  });

  it('leaves a running run alone', async () => {
    const {deps, store, notifier} = setup();
    await store.create(runRecord('j', {state: 'RUNNING'}));
    assert.strictEqual(await finishAndNotify('j', deps), 'not-needed');
    assert.strictEqual(notifier.sent.length, 0);
  });
});

describe('reconcileRuns', () => {
  it('closes old open runs, announces unannounced ones, leaves young ones', async () => {
    const {deps, batch, store, notifier} = setup(at(1000));
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      await store.create(runRecord(id, {createdAt: at(0)}));
      batch.put(id, 'SUCCEEDED');
    }
    batch.put('c', 'RUNNING');
    await store.create(runRecord('young', {createdAt: at(990)}));
    batch.put('young', 'SUCCEEDED');
    await store.create(
      runRecord('untold', {state: 'FAILED', createdAt: at(0)}),
    );
    await store.create(runRecord('lost', {createdAt: at(0)}));
    const counts = await reconcileRuns({
      ...deps,
      olderThanMs: 60_000,
      batchSize: 2,
      concurrency: 2,
    });
    assert.deepStrictEqual(counts, {
      examined: 7,
      changed: 5,
      notified: 6,
      busy: 0,
      missing: 1,
      failed: 0,
    });
    assert.strictEqual((await store.get('c'))!.state, 'RUNNING');
    assert.strictEqual((await store.get('young'))!.state, 'QUEUED');
    // A job Batch no longer knows is closed and announced, not left open forever.
    assert.strictEqual((await store.get('lost'))!.state, 'CANCELLED');
    assert.deepStrictEqual(notifier.sent.map(r => r.id).sort(), [
      'a',
      'b',
      'd',
      'e',
      'lost',
      'untold',
    ]);
  });

  it('asks about runs older than it is told, and counts failures without stopping', async () => {
    const {deps, batch, store} = setup(at(1000));
    await store.create(runRecord('a', {createdAt: at(0)}));
    await store.create(runRecord('b', {createdAt: at(0)}));
    batch.error = new TransientError('UNAVAILABLE');
    const counts = await reconcileRuns({...deps, olderThanMs: 0});
    assert.strictEqual(counts.examined, 2);
    assert.strictEqual(counts.failed, 2);
    const none = await reconcileRuns({...deps, olderThanMs: 3_600_000});
    assert.strictEqual(none.examined, 0);
  });
});
