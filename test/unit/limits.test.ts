import * as assert from 'node:assert';
import type {Limits, Mapping} from '../../shared/config/types';
import {
  limitUsage,
  limitedPlan,
  overLimit,
  previewLimits,
  releaseLaunch,
  reserveLaunch,
} from '../../shared/limits';
import type {LaunchPlan} from '../../shared/plan';
import {MemoryRunStore} from '../../shared/runs/memory_store';
import {runRecord} from '../support/fixtures';

const T0 = new Date('2026-01-01T12:00:00Z');
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

/** A launch plan of mapping `trainer` with `limits`, for job `jobId`. */
function plan(jobId: string, limits: Limits): LaunchPlan {
  return {
    kind: 'launch',
    mapping: {name: 'trainer', limits} as Mapping,
    digest: 'sha256:00',
    region: 'us-central1',
    verdict: {streamable: true, reasons: []},
    request: {parent: 'projects/p/locations/us-central1', jobId, job: {}},
  };
}

function setup() {
  const store = new MemoryRunStore();
  let now = T0;
  const deps = {store, now: () => now, maxEventAgeMs: 3600_000};
  return {
    store,
    deps,
    at: (d: Date) => (now = d),
    kinds: async (ids: string[], limits: Limits) => {
      const out: string[] = [];
      for (const id of ids)
        out.push((await reserveLaunch(plan(id, limits), deps)).kind);
      return out;
    },
  };
}

describe('overLimit', () => {
  const cases = [
    {
      name: 'no limits',
      limits: {},
      usage: {lastHour: 99, running: 99},
      want: undefined,
    },
    {
      name: 'under both',
      limits: {maxRunsPerHour: 3, maxConcurrentRuns: 2},
      usage: {lastHour: 2, running: 1},
      want: undefined,
    },
    {
      name: 'at the hourly cap',
      limits: {maxRunsPerHour: 2},
      usage: {lastHour: 2, running: 0},
      want: {code: 'RATE_LIMITED', usage: '2 of 2 runs this hour'},
    },
    {
      name: 'at the concurrency cap',
      limits: {maxRunsPerHour: 20, maxConcurrentRuns: 2},
      usage: {lastHour: 5, running: 2},
      want: {
        code: 'CONCURRENCY_LIMITED',
        usage: '2 of 2 runs not yet finished',
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () =>
      assert.deepStrictEqual(overLimit(c.limits, c.usage), c.want),
    );
  }

  it('counts launches of the rolling hour, and open ones however old', () => {
    const usage = limitUsage(
      [
        {jobId: 'a', at: minutes(-90), open: true},
        {jobId: 'b', at: minutes(-59), open: false},
        {jobId: 'c', at: minutes(-1), open: true},
      ],
      T0,
    );
    assert.deepStrictEqual(usage, {lastHour: 2, running: 2});
  });
});

describe('reserveLaunch', () => {
  it('reserves up to maxRunsPerHour in a rolling hour, then skips', async () => {
    const {kinds, at} = setup();
    const limits = {maxRunsPerHour: 2};
    assert.deepStrictEqual(await kinds(['a', 'b', 'c'], limits), [
      'reserved',
      'reserved',
      'over',
    ]);
    at(minutes(59));
    assert.deepStrictEqual(await kinds(['d'], limits), ['over']);
    at(minutes(61));
    assert.deepStrictEqual(await kinds(['d', 'e'], limits), [
      'reserved',
      'reserved',
    ]);
  });

  it('reserves up to maxConcurrentRuns until a run record is final', async () => {
    const {store, kinds} = setup();
    const limits = {maxConcurrentRuns: 1};
    assert.deepStrictEqual(await kinds(['a', 'b'], limits), [
      'reserved',
      'over',
    ]);
    store.records.set('a', runRecord('a', {state: 'RUNNING'}));
    assert.deepStrictEqual(await kinds(['b'], limits), ['over']);
    store.records.set('a', runRecord('a', {state: 'CANCELLED'}));
    assert.deepStrictEqual(await kinds(['b'], limits), ['reserved']);
    assert.deepStrictEqual(
      store.counters.get('trainer')!.launches.map(l => [l.jobId, l.open]),
      [
        ['a', false],
        ['b', true],
      ],
    );
  });

  it('never counts a redelivery twice, nor skips it', async () => {
    const {store, kinds} = setup();
    const limits = {maxRunsPerHour: 1, maxConcurrentRuns: 1};
    assert.deepStrictEqual(await kinds(['a', 'a'], limits), [
      'reserved',
      'held',
    ]);
    store.records.set('a', runRecord('a'));
    assert.deepStrictEqual(await kinds(['a', 'b'], limits), [
      'launched-before',
      'over',
    ]);
    assert.strictEqual(store.counters.get('trainer')!.launches.length, 1);
  });

  it('a released reservation counts for nothing', async () => {
    const {store, deps, kinds} = setup();
    const limits = {maxRunsPerHour: 1};
    assert.deepStrictEqual(await kinds(['a'], limits), ['reserved']);
    await releaseLaunch(plan('a', limits), deps);
    assert.deepStrictEqual(store.counters.get('trainer')!.launches, []);
    assert.deepStrictEqual(await kinds(['b'], limits), ['reserved']);
  });

  it('a reservation whose record never came stops counting as running once too old to redeliver', async () => {
    const {kinds, at} = setup();
    const limits = {maxConcurrentRuns: 1};
    assert.deepStrictEqual(await kinds(['a'], limits), ['reserved']);
    at(minutes(65));
    assert.deepStrictEqual(await kinds(['b'], limits), ['over']);
    at(minutes(71));
    assert.deepStrictEqual(await kinds(['b'], limits), ['reserved']);
  });

  it('holds exactly under 50 concurrent pushes', async () => {
    const {store, deps} = setup();
    const limits = {maxRunsPerHour: 20, maxConcurrentRuns: 7};
    const got = await Promise.all(
      Array.from({length: 50}, (_, i) =>
        reserveLaunch(plan(`j${i}`, limits), deps),
      ),
    );
    assert.strictEqual(got.filter(r => r.kind === 'reserved').length, 7);
    assert.strictEqual(store.counters.get('trainer')!.launches.length, 7);
  });

  it('a mapping without limits touches no counter', async () => {
    const {store, kinds} = setup();
    assert.deepStrictEqual(await kinds(['a'], {}), ['unlimited']);
    assert.strictEqual(store.counters.size, 0);
  });
});

describe('limitedPlan and previewLimits', () => {
  it('skips with the code and the usage', async () => {
    const skip = limitedPlan(plan('a', {maxRunsPerHour: 2}), {
      code: 'RATE_LIMITED',
      usage: '2 of 2 runs this hour',
    });
    assert.strictEqual(skip.kind, 'skip');
    assert.deepStrictEqual(skip.skip, {
      code: 'RATE_LIMITED',
      reason: "over the mapping's maxRunsPerHour: 2 of 2 runs this hour",
    });
  });

  it('previews without reserving', async () => {
    const {store, deps, kinds} = setup();
    const limits = {maxRunsPerHour: 2};
    await kinds(['a', 'b'], limits);
    const mapping = {name: 'trainer', limits} as Mapping;
    assert.deepStrictEqual(await previewLimits(mapping, deps), {
      usage: {lastHour: 2, running: 2},
      over: {code: 'RATE_LIMITED', usage: '2 of 2 runs this hour'},
    });
    assert.strictEqual(store.counters.get('trainer')!.launches.length, 2);
  });
});
