/** `pushrun runs stats` over a memory store: the JSON contract, the table, the window, paging. */
import * as assert from 'node:assert';
import {runRecord} from '../../support/fixtures';
import {runModule} from '../../support/cli';
import {runsCommand} from '../../../shared/cli/runs_command';
import {readStats} from '../../../shared/cli/runs_stats_command';
import {MemoryRunStore} from '../../../shared/runs/memory_store';
import type {RunRecord} from '../../../shared/runs/record';

const HOUR = 3_600_000;
const ago = (ms: number) => new Date(Date.now() - ms);

/** A finished run created `age` ms ago, started `startup` s after launch, ran 60 s. */
function finished(
  id: string,
  age: number,
  streamed: boolean,
  startup: number,
  extra: Partial<RunRecord> = {},
): RunRecord {
  const launchedAt = ago(age);
  const startedAt = new Date(launchedAt.getTime() + startup * 1000);
  return runRecord(id, {
    state: 'SUCCEEDED',
    createdAt: launchedAt,
    launchedAt,
    startedAt,
    finishedAt: new Date(startedAt.getTime() + 60_000),
    streaming: {requested: 'auto', enabled: streamed, reasons: []},
    ...extra,
  });
}

async function seeded(): Promise<MemoryRunStore> {
  const store = new MemoryRunStore();
  for (const r of [
    finished('trainer-000000000001', 2 * HOUR, true, 40),
    finished('trainer-000000000002', 3 * HOUR, true, 44),
    finished('trainer-000000000003', 4 * HOUR, false, 190),
    finished('trainer-000000000004', 5 * HOUR, false, 210, {state: 'FAILED'}),
    finished('trainer-000000000005', 10 * 24 * HOUR, false, 999), // outside 7d
    finished('eval-000000000006', 0.5 * HOUR, true, 5, {mapping: 'eval'}),
  ])
    await store.create(r);
  return store;
}

const stats = (store: MemoryRunStore, args: string[]) =>
  runModule(runsCommand({store: () => store}), ['runs', 'stats', ...args]);

describe('cli: runs stats', () => {
  it('prints the contract JSON over the last 7 days', async () => {
    const before = Date.now();
    const res = await stats(await seeded(), ['--json']);
    assert.strictEqual(res.code, 0, res.err);
    const out = JSON.parse(res.out);
    assert.deepStrictEqual(Object.keys(out), ['since', 'mappings']);
    const since = Date.parse(out.since);
    assert.ok(Math.abs(before - 7 * 24 * HOUR - since) < 5000, out.since);
    assert.deepStrictEqual(
      out.mappings.map((m: {mapping: string}) => m.mapping),
      ['eval', 'trainer'],
    );
    const trainer = out.mappings[1];
    assert.deepStrictEqual(Object.keys(trainer), [
      'mapping',
      'runs',
      'states',
      'streamed',
      'pulled',
      'startupSavedSeconds',
    ]);
    assert.strictEqual(trainer.runs, 4);
    assert.deepStrictEqual(trainer.states, {FAILED: 1, SUCCEEDED: 3});
    assert.deepStrictEqual(trainer.streamed.startupSeconds, {
      p50: 42,
      p90: 43.6,
    });
    assert.deepStrictEqual(trainer.pulled.startupSeconds, {p50: 200, p90: 208});
    assert.deepStrictEqual(trainer.pulled.runSeconds, {p50: 60, p90: 60});
    assert.strictEqual(trainer.startupSavedSeconds, 158);
  });

  it('narrows to a mapping and a window, either side of the subcommand', async () => {
    const store = await seeded();
    for (const args of [
      ['runs', 'stats', '--mapping', 'trainer', '--since', '150m', '--json'],
      ['runs', '--mapping', 'trainer', '--json', 'stats', '--since', '150m'],
    ]) {
      const res = await runModule(runsCommand({store: () => store}), args);
      assert.strictEqual(res.code, 0, res.err);
      const out = JSON.parse(res.out);
      assert.strictEqual(out.mappings.length, 1, args.join(' '));
      assert.strictEqual(out.mappings[0].runs, 1);
      assert.strictEqual(out.mappings[0].startupSavedSeconds, null);
    }
  });

  it('names a mapping with no runs rather than printing nothing', async () => {
    const res = await stats(await seeded(), ['--mapping', 'nobody', '--json']);
    const out = JSON.parse(res.out);
    assert.strictEqual(out.mappings[0].mapping, 'nobody');
    assert.strictEqual(out.mappings[0].runs, 0);
  });

  it('prints a table: success rate, streamed against pulled, and the saving', async () => {
    const res = await stats(await seeded(), []);
    assert.strictEqual(res.code, 0, res.err);
    const lines = res.out.split('\n');
    assert.match(lines[0], /^Runs since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    assert.match(res.out, /^MAPPING +RUNS +SUCCESS +STATES$/m);
    assert.match(res.out, /^trainer +4 +75% +FAILED 1, SUCCEEDED 3$/m);
    assert.match(res.out, /^eval +1 +100% +SUCCEEDED 1$/m);
    assert.match(
      res.out,
      /^MAPPING +STREAMING +RUNS +STARTUP P50 +STARTUP P90 +RUN P50 +RUN P90$/m,
    );
    assert.match(res.out, /^trainer +streamed +2 +42s +44s +1m 00s +1m 00s$/m);
    assert.match(
      res.out,
      /^trainer +pulled +2 +3m 20s +3m 28s +1m 00s +1m 00s$/m,
    );
    assert.match(res.out, /^eval +pulled +0 +- +- +- +-$/m);
    assert.match(
      res.out,
      /^trainer: streamed runs started 2m 38s faster than pulled ones \(median\)$/m,
    );
    assert.match(res.out, /^eval: no saving to show/m);
  });

  it('says so when there are no runs', async () => {
    const res = await stats(new MemoryRunStore(), []);
    assert.match(res.out, /No runs\./);
  });

  it('rejects a bad --since with exit 2', async () => {
    const res = await stats(await seeded(), ['--since', 'a week']);
    assert.strictEqual(res.code, 2);
    assert.match(res.err, /--since: invalid duration "a week"/);
  });

  it('reads the store page by page, to the same report', async () => {
    const store = await seeded();
    const since = ago(30 * 24 * HOUR);
    const pages: number[] = [];
    const counting = Object.create(store) as MemoryRunStore;
    counting.listSince = async q => {
      const page = await store.listSince(q);
      pages.push(page.length);
      return page;
    };
    const paged = await readStats(counting, since, undefined, 2);
    assert.deepStrictEqual(pages, [2, 2, 2, 0]);
    assert.deepStrictEqual(paged, await readStats(store, since));
    assert.strictEqual(paged.mappings[1].runs, 5);
  });
});
