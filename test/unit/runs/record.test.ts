import {runRecord} from '../../support/fixtures';
import * as assert from 'node:assert';
import {JobState} from '../../../shared/batch/job_state';
import {
  HISTORY_LIMIT,
  ObservedJobState,
  RunRecord,
  RunState,
  applyJobState,
  consoleUrl,
  needsNotification,
  parseJobName,
  recordConsoleUrl,
  shortDigest,
  skipRecordId,
} from '../../../shared/runs/record';

const T0 = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

function record(state: RunState, extra: Partial<RunRecord> = {}): RunRecord {
  return runRecord('trainer-0123456789ab', {state, createdAt: T0, ...extra});
}

describe('applyJobState', () => {
  const cases: {name: string; from: RunState; to: JobState; moves: boolean}[] =
    [
      {
        name: 'QUEUED → SCHEDULED',
        from: 'QUEUED',
        to: 'SCHEDULED',
        moves: true,
      },
      {
        name: 'QUEUED → SUCCEEDED (skipping states)',
        from: 'QUEUED',
        to: 'SUCCEEDED',
        moves: true,
      },
      {
        name: 'SCHEDULED → RUNNING',
        from: 'SCHEDULED',
        to: 'RUNNING',
        moves: true,
      },
      {name: 'RUNNING → FAILED', from: 'RUNNING', to: 'FAILED', moves: true},
      {
        name: 'RUNNING → CANCELLATION_IN_PROGRESS',
        from: 'RUNNING',
        to: 'CANCELLATION_IN_PROGRESS',
        moves: true,
      },
      {
        name: 'CANCELLATION_IN_PROGRESS → CANCELLED',
        from: 'CANCELLATION_IN_PROGRESS',
        to: 'CANCELLED',
        moves: true,
      },
      {
        name: 'DELETION_IN_PROGRESS → SUCCEEDED',
        from: 'DELETION_IN_PROGRESS',
        to: 'SUCCEEDED',
        moves: true,
      },
      {
        name: 'STATE_UNSPECIFIED → QUEUED',
        from: 'STATE_UNSPECIFIED',
        to: 'QUEUED',
        moves: true,
      },
      {
        name: 'late RUNNING after SUCCEEDED',
        from: 'SUCCEEDED',
        to: 'RUNNING',
        moves: false,
      },
      {
        name: 'late QUEUED after RUNNING',
        from: 'RUNNING',
        to: 'QUEUED',
        moves: false,
      },
      {
        name: 'late SCHEDULED after SCHEDULED',
        from: 'SCHEDULED',
        to: 'SCHEDULED',
        moves: false,
      },
      {
        name: 'FAILED after SUCCEEDED (terminal is final)',
        from: 'SUCCEEDED',
        to: 'FAILED',
        moves: false,
      },
      {
        name: 'CANCELLED after FAILED',
        from: 'FAILED',
        to: 'CANCELLED',
        moves: false,
      },
      {
        name: 'DELETION_IN_PROGRESS after CANCELLED',
        from: 'CANCELLED',
        to: 'DELETION_IN_PROGRESS',
        moves: false,
      },
      {
        name: 'DELETION after CANCELLATION (same rank)',
        from: 'CANCELLATION_IN_PROGRESS',
        to: 'DELETION_IN_PROGRESS',
        moves: false,
      },
      {
        name: 'RUNNING after DELETION_IN_PROGRESS',
        from: 'DELETION_IN_PROGRESS',
        to: 'RUNNING',
        moves: false,
      },
      {
        name: 'anything after SKIPPED',
        from: 'SKIPPED',
        to: 'SUCCEEDED',
        moves: false,
      },
      {
        name: 'STATE_UNSPECIFIED after QUEUED',
        from: 'QUEUED',
        to: 'STATE_UNSPECIFIED',
        moves: false,
      },
    ];
  for (const c of cases) {
    it(c.name, () => {
      const before = record(c.from);
      const {record: after, changed} = applyJobState(before, {
        state: c.to,
        at: at(10),
      });
      assert.strictEqual(after.state, c.moves ? c.to : c.from);
      assert.strictEqual(changed, c.moves);
      assert.deepStrictEqual(
        after.history,
        c.moves ? [{state: c.to, at: at(10)}] : [],
      );
      assert.strictEqual(before.state, c.from, 'input is not mutated');
    });
  }

  it('reaches the final state of any order of the same observations', () => {
    const states: JobState[] = ['QUEUED', 'SCHEDULED', 'RUNNING', 'SUCCEEDED'];
    for (let i = 0; i < 50; i++) {
      const shuffled = [...states, ...states].sort(() => Math.random() - 0.5);
      let r = record('STATE_UNSPECIFIED');
      for (const s of shuffled)
        r = applyJobState(r, {state: s, at: at(1)}).record;
      assert.strictEqual(r.state, 'SUCCEEDED', shuffled.join(','));
      const ranks = r.history.map(h => states.indexOf(h.state as JobState));
      assert.deepStrictEqual(
        ranks,
        [...ranks].sort(),
        'history only moves forward',
      );
    }
  });

  const fills: {
    name: string;
    from: RunRecord;
    observed: ObservedJobState;
    expect: Partial<RunRecord>;
    changed: boolean;
  }[] = [
    {
      name: 'terminal sets finishedAt and duration from start and end',
      from: record('RUNNING', {startedAt: at(5)}),
      observed: {state: 'SUCCEEDED', at: at(65), taskCounts: {SUCCEEDED: 1}},
      expect: {
        state: 'SUCCEEDED',
        finishedAt: at(65),
        durationSeconds: 60,
        taskCounts: {SUCCEEDED: 1},
      },
      changed: true,
    },
    {
      name: "Batch's run duration wins",
      from: record('RUNNING', {startedAt: at(5)}),
      observed: {
        state: 'FAILED',
        at: at(65),
        finishedAt: at(64),
        durationSeconds: 42,
      },
      expect: {finishedAt: at(64), durationSeconds: 42},
      changed: true,
    },
    {
      name: 'late RUNNING fills a missing startedAt but keeps counts',
      from: record('SUCCEEDED', {taskCounts: {SUCCEEDED: 2}}),
      observed: {
        state: 'RUNNING',
        at: at(3),
        startedAt: at(3),
        taskCounts: {RUNNING: 2},
      },
      expect: {
        state: 'SUCCEEDED',
        startedAt: at(3),
        taskCounts: {SUCCEEDED: 2},
      },
      changed: true,
    },
    {
      name: 'same observation twice changes nothing',
      from: record('RUNNING', {
        startedAt: at(3),
        jobUid: 'u',
        taskCounts: {RUNNING: 1},
      }),
      observed: {
        state: 'RUNNING',
        at: at(9),
        startedAt: at(3),
        jobUid: 'u',
        taskCounts: {RUNNING: 1},
      },
      expect: {state: 'RUNNING'},
      changed: false,
    },
    {
      name: 'jobUid is filled once, never replaced',
      from: record('QUEUED', {jobUid: 'first'}),
      observed: {state: 'QUEUED', at: at(1), jobUid: 'second'},
      expect: {jobUid: 'first'},
      changed: false,
    },
    {
      name: 'counts follow the current state',
      from: record('RUNNING', {taskCounts: {RUNNING: 1, PENDING: 1}}),
      observed: {state: 'RUNNING', at: at(1), taskCounts: {RUNNING: 2}},
      expect: {taskCounts: {RUNNING: 2}},
      changed: true,
    },
  ];
  for (const c of fills) {
    it(c.name, () => {
      const {record: r, changed} = applyJobState(c.from, c.observed);
      assert.strictEqual(changed, c.changed);
      for (const [k, v] of Object.entries(c.expect)) {
        assert.deepStrictEqual(r[k as keyof RunRecord], v, k);
      }
    });
  }

  it('keeps only the last HISTORY_LIMIT changes', () => {
    let r = record('QUEUED', {
      history: Array.from({length: HISTORY_LIMIT}, (_, i) => ({
        state: 'QUEUED' as const,
        at: at(i),
      })),
    });
    r = applyJobState(r, {state: 'RUNNING', at: at(99)}).record;
    assert.strictEqual(r.history.length, HISTORY_LIMIT);
    assert.deepStrictEqual(r.history.at(-1), {state: 'RUNNING', at: at(99)});
  });
});

describe('needsNotification', () => {
  const cases: {name: string; r: RunRecord; want: boolean}[] = [
    {name: 'running', r: record('RUNNING'), want: false},
    {name: 'deleting', r: record('DELETION_IN_PROGRESS'), want: false},
    {name: 'succeeded, not told', r: record('SUCCEEDED'), want: true},
    {name: 'failed, not told', r: record('FAILED'), want: true},
    {name: 'cancelled, not told', r: record('CANCELLED'), want: true},
    {name: 'skipped, not told', r: record('SKIPPED'), want: true},
    {
      name: 'succeeded, told',
      r: record('SUCCEEDED', {notifiedAt: at(1)}),
      want: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.strictEqual(needsNotification(c.r), c.want));
  }
});

describe('record helpers', () => {
  it('builds the console link', () => {
    assert.strictEqual(
      consoleUrl('my-proj', 'us-central1', 'trainer-0123456789ab'),
      'https://console.cloud.google.com/batch/jobsDetail/regions/us-central1/jobs/trainer-0123456789ab/details?project=my-proj',
    );
    assert.strictEqual(
      recordConsoleUrl(record('RUNNING')),
      'https://console.cloud.google.com/batch/jobsDetail/regions/us-central1/jobs/trainer-0123456789ab/details?project=p',
    );
    assert.strictEqual(
      recordConsoleUrl(record('SKIPPED', {jobName: undefined})),
      undefined,
    );
  });
  it('parses job names', () => {
    assert.deepStrictEqual(
      parseJobName('projects/p/locations/europe-west4/jobs/x-1'),
      {
        project: 'p',
        region: 'europe-west4',
        jobId: 'x-1',
      },
    );
    assert.strictEqual(parseJobName('x-1'), undefined);
    assert.strictEqual(parseJobName('projects/p/locations/r/jobs/'), undefined);
  });
  it('names skipped runs and short digests', () => {
    assert.strictEqual(
      shortDigest('sha256:0123456789abcdef0123'),
      '0123456789ab',
    );
    assert.strictEqual(
      skipRecordId('trainer', 'sha256:0123456789abcdef'),
      'skip-trainer-0123456789ab',
    );
  });
});
