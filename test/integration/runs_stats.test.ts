/**
 * `pushrun runs stats` against the Firestore emulator: records with known timings written by
 * the real store, read back through `listSince` page by page (startAfter on createdAt and the
 * document id), and the report the CLI prints.
 */
import * as assert from 'node:assert';
import {runRecord} from '../support/fixtures';
import {runCli} from '../support/cli';
import {readStats} from '../../shared/cli/runs_stats_command';
import {makeRunStore} from '../../shared/runs/firestore_store';
import type {RunRecord} from '../../shared/runs/record';
import type {RunStore} from '../../shared/runs/store';
import {parseSettings} from '../../shared/settings';
import {
  EMULATOR_PROJECT,
  Emulator,
  resetFirestore,
  startFirestoreEmulator,
} from '../../sandbox/emulators';

const HOUR = 3_600_000;

describe('runs stats (Firestore emulator)', function () {
  this.timeout(60_000);
  let firestore: Emulator | undefined;
  let env: NodeJS.ProcessEnv;
  let store: RunStore;

  /** A run of `mapping` created `hoursAgo`, started `startup` s after launch, ran `run` s. */
  const run = (
    id: string,
    hoursAgo: number,
    streamed: boolean,
    startup: number | undefined,
    extra: Partial<RunRecord> = {},
  ): RunRecord => {
    const launchedAt = new Date(Date.now() - hoursAgo * HOUR);
    const startedAt =
      startup === undefined
        ? undefined
        : new Date(launchedAt.getTime() + startup * 1000);
    return runRecord(id, {
      state: startedAt ? 'SUCCEEDED' : 'QUEUED',
      createdAt: launchedAt,
      launchedAt,
      startedAt,
      finishedAt: startedAt && new Date(startedAt.getTime() + 300_000),
      streaming: {requested: 'auto', enabled: streamed, reasons: []},
      ...extra,
    });
  };

  before(async function () {
    this.timeout(120_000);
    process.env.METADATA_SERVER_DETECTION ??= 'none';
    firestore = await startFirestoreEmulator();
    if (!firestore) return this.skip();
    env = {
      GOOGLE_CLOUD_PROJECT: EMULATOR_PROJECT,
      FIRESTORE_EMULATOR_HOST: firestore.host,
    };
    store = makeRunStore(parseSettings(env));
  });

  after(async () => firestore?.stop());

  beforeEach(async () => {
    await resetFirestore(firestore!.host, EMULATOR_PROJECT);
    const sameTime = new Date(Date.now() - 6 * HOUR);
    for (const r of [
      run('trainer-s1', 1, true, 30),
      run('trainer-s2', 2, true, 40),
      run('trainer-s3', 3, true, 50, {state: 'FAILED'}),
      run('trainer-q4', 4, true, undefined),
      // Two runs created in the same millisecond: paging must not lose or repeat one.
      run('trainer-p5', 6, false, 200, {createdAt: sameTime}),
      run('trainer-p6', 6, false, 220, {createdAt: sameTime}),
      run('trainer-skip', 7, false, undefined, {
        state: 'SKIPPED',
        skipCode: 'RATE_LIMITED',
        jobName: undefined,
        launchedAt: undefined,
      }),
      run('eval-s7', 1, true, 10, {mapping: 'eval'}),
      run('trainer-old', 24 * 8, false, 999),
    ])
      await store.create(r);
  });

  it('prints the contract JSON: states, streamed and pulled timings, the saving', async () => {
    const res = await runCli(['runs', 'stats', '--json'], env);
    assert.strictEqual(res.code, 0, res.err);
    const out = JSON.parse(res.out);
    assert.deepStrictEqual(
      out.mappings.map((m: {mapping: string}) => m.mapping),
      ['eval', 'trainer'],
    );
    assert.deepStrictEqual(out.mappings[1], {
      mapping: 'trainer',
      runs: 7,
      states: {FAILED: 1, QUEUED: 1, SKIPPED: 1, SUCCEEDED: 4},
      streamed: {
        runs: 4,
        startupSeconds: {p50: 40, p90: 48},
        runSeconds: {p50: 300, p90: 300},
      },
      pulled: {
        runs: 2,
        startupSeconds: {p50: 210, p90: 218},
        runSeconds: {p50: 300, p90: 300},
      },
      startupSavedSeconds: 170,
    });
  });

  it('takes --mapping and --since, and prints the table', async () => {
    const res = await runCli(
      ['runs', 'stats', '--mapping', 'trainer', '--since', '5h'],
      env,
    );
    assert.strictEqual(res.code, 0, res.err);
    assert.match(
      res.out,
      /^trainer +4 +67% +FAILED 1, QUEUED 1, SUCCEEDED 2$/m,
    );
    assert.match(res.out, /^trainer +pulled +0 +- +- +- +-$/m);
    assert.doesNotMatch(res.out, /^eval/m);
  });

  it('pages through the store without losing or repeating a record', async () => {
    const since = new Date(Date.now() - 30 * 24 * HOUR);
    for (const mapping of [undefined, 'trainer']) {
      const seen: string[] = [];
      for (let after: RunRecord | undefined; ;) {
        const page = await store.listSince({since, mapping, limit: 2, after});
        seen.push(...page.map(r => r.id));
        if (page.length < 2) break;
        after = page[page.length - 1];
      }
      const want = [
        'trainer-s1',
        'eval-s7',
        'trainer-s2',
        'trainer-s3',
        'trainer-q4',
        'trainer-p6',
        'trainer-p5',
        'trainer-skip',
        'trainer-old',
      ].filter(id => !mapping || id.startsWith(mapping));
      // s1 and s7 are both an hour old: their order is by time to the millisecond.
      assert.deepStrictEqual(
        [...seen].sort(),
        [...want].sort(),
        String(mapping),
      );
      assert.deepStrictEqual(seen.slice(2), want.slice(2), String(mapping));
    }
    assert.deepStrictEqual(
      await readStats(store, since, undefined, 2),
      await readStats(store, since),
    );
  });
});
