/** The pulled-runs median a notification shows: one query, and never a reason to fail. */
import * as assert from 'node:assert';
import {recordingLogger, runRecord} from '../../support/fixtures';
import {MemoryRunStore} from '../../../shared/runs/memory_store';
import {pulledStartupMedianOf} from '../../../shared/runs/peer_startup';
import type {RunRecord} from '../../../shared/runs/record';
import type {RunQuery} from '../../../shared/runs/store';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000);

const started = (id: string, startup: number, extra: Partial<RunRecord> = {}) =>
  runRecord(id, {
    state: 'SUCCEEDED',
    launchedAt: at(0),
    startedAt: at(startup),
    streaming: {requested: 'auto', enabled: false, reasons: []},
    ...extra,
  });

const streamed = {requested: 'auto', enabled: true, reasons: []};

describe('notification: pulled runs median', () => {
  it("is the median startup of the mapping's pulled runs, with one query", async () => {
    const store = new MemoryRunStore();
    await store.create(started('trainer-a', 100));
    await store.create(started('trainer-b', 300));
    await store.create(started('trainer-c', 5, {streaming: streamed}));
    await store.create(started('eval-d', 900, {mapping: 'eval'}));
    const queries: RunQuery[] = [];
    const list = store.list.bind(store);
    store.list = async q => {
      queries.push(q ?? {});
      return list(q);
    };
    const log = recordingLogger();
    const me = started('trainer-c', 41, {streaming: streamed});
    assert.strictEqual(await pulledStartupMedianOf(me, store, log), 200);
    assert.deepStrictEqual(queries, [
      {mapping: 'trainer', streamed: false, limit: 50},
    ]);
    assert.deepStrictEqual(log.lines, []);
  });

  it('asks nothing for a run that never started', async () => {
    const store = new MemoryRunStore();
    let asked = false;
    store.list = async () => {
      asked = true;
      return [];
    };
    const me = started('trainer-q', 0, {startedAt: undefined});
    assert.strictEqual(
      await pulledStartupMedianOf(me, store, recordingLogger()),
      undefined,
    );
    assert.strictEqual(asked, false);
  });

  it('a failing store leaves the comparison out, with a warning', async () => {
    const store = new MemoryRunStore();
    store.list = async () => {
      throw new Error('Firestore list failed: UNAVAILABLE');
    };
    const log = recordingLogger();
    const got = await pulledStartupMedianOf(
      started('trainer-x', 41),
      store,
      log,
    );
    assert.strictEqual(got, undefined);
    assert.strictEqual(log.lines[0].severity, 'WARNING');
    assert.match(String(log.lines[0].error), /UNAVAILABLE/);
  });

  it('a slow store does not hold the message', async () => {
    const store = new MemoryRunStore();
    store.list = () => new Promise(() => undefined);
    const log = recordingLogger();
    const t = Date.now();
    const got = await pulledStartupMedianOf(
      started('trainer-y', 41),
      store,
      log,
      50,
    );
    assert.strictEqual(got, undefined);
    assert.ok(Date.now() - t < 1000);
    assert.match(String(log.lines[0].error), /no answer in 50 ms/);
  });
});
