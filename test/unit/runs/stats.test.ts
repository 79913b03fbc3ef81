/** `runs stats` arithmetic over records with known timings. */
import * as assert from 'node:assert';
import {runRecord} from '../../support/fixtures';
import type {RunRecord, RunState} from '../../../shared/runs/record';
import {
  percentile,
  pulledStartupMedian,
  runStats,
  successRate,
} from '../../../shared/runs/stats';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000);
let n = 0;

/** A run launched at T0 that started `startup` s later and ran `run` s (undefined: never). */
function run(
  how: 'streamed' | 'pulled',
  state: RunState,
  startup?: number,
  runFor?: number,
  extra: Partial<RunRecord> = {},
): RunRecord {
  const startedAt = startup === undefined ? undefined : at(startup);
  return runRecord(`trainer-${String(n++).padStart(12, '0')}`, {
    state,
    createdAt: at(0),
    launchedAt: at(0),
    startedAt,
    finishedAt:
      startedAt && runFor !== undefined ? at(startup! + runFor) : undefined,
    streaming: {
      requested: 'auto',
      enabled: how === 'streamed',
      reasons: how === 'pulled' ? [{code: 'EMPTY_LAYER', message: 'x'}] : [],
    },
    ...extra,
  });
}

describe('runs stats: percentile (linear between closest ranks)', () => {
  const cases: {name: string; xs: number[]; p: number; want: number | null}[] =
    [
      {name: 'none', xs: [], p: 0.5, want: null},
      {name: 'one value', xs: [7], p: 0.9, want: 7},
      {name: 'median of odd', xs: [1, 2, 3], p: 0.5, want: 2},
      {name: 'median of even', xs: [1, 2, 3, 4], p: 0.5, want: 2.5},
      {
        name: 'p90 of ten',
        xs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        p: 0.9,
        want: 9.1,
      },
      {name: 'p90 of five', xs: [10, 20, 30, 40, 50], p: 0.9, want: 46},
      {name: 'p0 and p1 are the ends', xs: [3, 5], p: 1, want: 5},
      {name: 'p clamped', xs: [3, 5], p: -1, want: 3},
    ];
  for (const c of cases) {
    it(c.name, () => assert.strictEqual(percentile(c.xs, c.p), c.want));
  }
});

describe('runs stats: the report', () => {
  const since = at(-3600);

  it('splits streamed and pulled, and says what streaming saved', () => {
    const records = [
      run('streamed', 'SUCCEEDED', 40, 600),
      run('streamed', 'SUCCEEDED', 42, 620),
      run('streamed', 'FAILED', 50, 30),
      run('streamed', 'RUNNING', 44),
      run('streamed', 'QUEUED'), // launched, not started: counted, no timings
      run('pulled', 'SUCCEEDED', 180, 610),
      run('pulled', 'SUCCEEDED', 200, 590),
      run('pulled', 'CANCELLED', 190, 10, {supersededBy: 'trainer-x'}),
      run('pulled', 'SKIPPED', undefined, undefined, {
        skipCode: 'RATE_LIMITED',
        launchedAt: undefined,
      }),
      run('streamed', 'SUCCEEDED', 5, 5, {mapping: 'eval'}),
    ];
    const stats = runStats(records, since);
    assert.strictEqual(stats.since, '2026-02-28T23:00:00.000Z');
    assert.deepStrictEqual(
      stats.mappings.map(m => m.mapping),
      ['eval', 'trainer'],
    );
    const trainer = stats.mappings[1];
    assert.deepStrictEqual(trainer, {
      mapping: 'trainer',
      runs: 9,
      states: {
        CANCELLED: 1,
        FAILED: 1,
        QUEUED: 1,
        RUNNING: 1,
        SKIPPED: 1,
        SUCCEEDED: 4,
      },
      streamed: {
        runs: 5,
        startupSeconds: {p50: 43, p90: 48.2},
        runSeconds: {p50: 600, p90: 616},
      },
      pulled: {
        runs: 3,
        startupSeconds: {p50: 190, p90: 198},
        runSeconds: {p50: 590, p90: 606},
      },
      startupSavedSeconds: 147,
    });
    assert.strictEqual(stats.mappings[0].startupSavedSeconds, null);
    assert.deepStrictEqual(stats.mappings[0].pulled, {
      runs: 0,
      startupSeconds: {p50: null, p90: null},
      runSeconds: {p50: null, p90: null},
    });
  });

  it('keeps a named mapping with no runs, all null', () => {
    const stats = runStats([], since, ['trainer']);
    assert.deepStrictEqual(stats.mappings, [
      {
        mapping: 'trainer',
        runs: 0,
        states: {},
        streamed: {
          runs: 0,
          startupSeconds: {p50: null, p90: null},
          runSeconds: {p50: null, p90: null},
        },
        pulled: {
          runs: 0,
          startupSeconds: {p50: null, p90: null},
          runSeconds: {p50: null, p90: null},
        },
        startupSavedSeconds: null,
      },
    ]);
  });

  it('rounds to milliseconds and may report a negative saving', () => {
    const stats = runStats(
      [run('streamed', 'SUCCEEDED', 10.1234), run('pulled', 'SUCCEEDED', 9.9)],
      since,
    );
    const m = stats.mappings[0];
    assert.strictEqual(m.streamed.startupSeconds.p50, 10.123);
    assert.strictEqual(m.startupSavedSeconds, -0.223);
  });

  const rates: {
    name: string;
    states: Record<string, number>;
    want: number | null;
  }[] = [
    {name: 'no decided runs', states: {RUNNING: 2, SKIPPED: 1}, want: null},
    {name: 'all good', states: {SUCCEEDED: 3}, want: 1},
    {
      name: 'cancelled and skipped left out',
      states: {SUCCEEDED: 3, FAILED: 1, CANCELLED: 4, SKIPPED: 2},
      want: 0.75,
    },
  ];
  for (const c of rates) {
    it(`success rate: ${c.name}`, () =>
      assert.strictEqual(successRate(c.states), c.want));
  }

  it('the pulled median a notification shows leaves streamed, skipped and unstarted runs out', () => {
    assert.strictEqual(
      pulledStartupMedian([
        run('pulled', 'SUCCEEDED', 100, 1),
        run('pulled', 'RUNNING', 300),
        run('pulled', 'QUEUED'),
        run('streamed', 'SUCCEEDED', 5, 1),
      ]),
      200,
    );
    assert.strictEqual(
      pulledStartupMedian([run('streamed', 'SUCCEEDED', 5)]),
      undefined,
    );
  });
});
