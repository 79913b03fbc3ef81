import {runRecord} from '../../support/fixtures';
import * as assert from 'node:assert';
import {MemoryRunStore} from '../../../shared/runs/memory_store';
import {RunRecord, RunState} from '../../../shared/runs/record';

const T0 = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

function record(
  id: string,
  state: RunState,
  createdAt: Date,
  extra: Partial<RunRecord> = {},
): RunRecord {
  return runRecord(id, {
    tags: [],
    jobName: undefined,
    streaming: {
      requested: 'auto',
      enabled: false,
      reasons: [{code: 'EMPTY_LAYER', message: 'layer 2 is empty'}],
    },
    state,
    createdAt,
    ...extra,
  });
}

describe('MemoryRunStore', () => {
  it('create keeps an existing record', async () => {
    const store = new MemoryRunStore();
    assert.strictEqual(await store.create(record('a', 'QUEUED', at(0))), true);
    assert.strictEqual(await store.create(record('a', 'FAILED', at(1))), false);
    assert.strictEqual((await store.get('a'))?.state, 'QUEUED');
    assert.strictEqual(await store.get('missing'), undefined);
  });

  it('returns copies: changing a result does not change the store', async () => {
    const store = new MemoryRunStore();
    await store.create(record('a', 'QUEUED', at(0)));
    const got = (await store.get('a')) as {state: RunState};
    got.state = 'FAILED';
    assert.strictEqual((await store.get('a'))?.state, 'QUEUED');
  });

  it('update writes only when changed and hands back the side effect', async () => {
    const store = new MemoryRunStore();
    await store.create(record('a', 'QUEUED', at(0)));
    const same = await store.update('a', cur => ({
      record: {...cur!, state: 'FAILED'},
      changed: false,
    }));
    assert.strictEqual(same.changed, false);
    assert.strictEqual((await store.get('a'))?.state, 'QUEUED');
    const moved = await store.update<string>('a', cur => ({
      record: {...cur!, state: 'RUNNING'},
      changed: true,
      sideEffect: 'moved',
    }));
    assert.strictEqual(moved.sideEffect, 'moved');
    assert.strictEqual((await store.get('a'))?.state, 'RUNNING');
    const created = await store.update('b', cur => ({
      record: cur ?? record('b', 'QUEUED', at(2)),
      changed: !cur,
    }));
    assert.strictEqual(created.changed, true);
    assert.ok(await store.get('b'));
  });

  it('list filters and sorts newest first', async () => {
    const store = new MemoryRunStore();
    await store.create(record('old', 'SUCCEEDED', at(0)));
    await store.create(record('mid', 'FAILED', at(10), {mapping: 'other'}));
    await store.create(record('new', 'SUCCEEDED', at(20), {image: 'x/y'}));
    const cases: {
      name: string;
      q: Parameters<MemoryRunStore['list']>[0];
      ids: string[];
    }[] = [
      {name: 'all', q: {}, ids: ['new', 'mid', 'old']},
      {name: 'mapping', q: {mapping: 'trainer'}, ids: ['new', 'old']},
      {name: 'image', q: {image: 'x/y'}, ids: ['new']},
      {name: 'state', q: {state: 'FAILED'}, ids: ['mid']},
      {name: 'limit', q: {limit: 2}, ids: ['new', 'mid']},
      {
        name: 'open older than',
        q: {openOlderThan: at(15)},
        ids: ['mid', 'old'],
      },
    ];
    for (const c of cases) {
      assert.deepStrictEqual(
        (await store.list(c.q)).map(r => r.id),
        c.ids,
        c.name,
      );
    }
  });

  it('listOpen pages open runs oldest first, including finished-but-unannounced ones', async () => {
    const store = new MemoryRunStore();
    await store.create(record('r1', 'RUNNING', at(0)));
    await store.create(record('r2', 'QUEUED', at(0)));
    await store.create(record('done', 'SUCCEEDED', at(1), {notifiedAt: at(2)}));
    await store.create(record('untold', 'FAILED', at(2)));
    await store.create(record('young', 'RUNNING', at(100)));
    const first = await store.listOpen({olderThan: at(50), limit: 2});
    assert.deepStrictEqual(
      first.map(r => r.id),
      ['r1', 'r2'],
    );
    const second = await store.listOpen({
      olderThan: at(50),
      limit: 2,
      after: first[1],
    });
    assert.deepStrictEqual(
      second.map(r => r.id),
      ['untold'],
    );
  });

  it('keeps Dates as Dates', async () => {
    const store = new MemoryRunStore();
    await store.create(
      record('a', 'QUEUED', at(0), {history: [{state: 'QUEUED', at: at(1)}]}),
    );
    const got = await store.get('a');
    assert.ok(got?.createdAt instanceof Date);
    assert.ok(got?.history[0].at instanceof Date);
  });

  it('listSince pages a window newest first, ties by id, of one mapping or all', async () => {
    const store = new MemoryRunStore();
    for (const [id, s, mapping] of [
      ['old', 5, 'trainer'],
      ['b', 10, 'trainer'],
      ['a', 10, 'trainer'],
      ['c', 20, 'eval'],
      ['d', 30, 'trainer'],
    ] as const)
      await store.create(record(id, 'SUCCEEDED', at(s), {mapping}));
    const ids = (rs: RunRecord[]) => rs.map(r => r.id);
    const first = await store.listSince({since: at(10), limit: 2});
    assert.deepStrictEqual(ids(first), ['d', 'c']);
    const second = await store.listSince({
      since: at(10),
      limit: 2,
      after: first[1],
    });
    assert.deepStrictEqual(ids(second), ['b', 'a']);
    assert.deepStrictEqual(
      ids(await store.listSince({since: at(10), limit: 2, after: second[1]})),
      [],
    );
    assert.deepStrictEqual(
      ids(await store.listSince({since: at(0), mapping: 'trainer', limit: 9})),
      ['d', 'b', 'a', 'old'],
    );
  });

  it('list filters on whether a run streamed', async () => {
    const store = new MemoryRunStore();
    const streamed = {requested: 'auto', enabled: true, reasons: []};
    await store.create(record('s', 'SUCCEEDED', at(1), {streaming: streamed}));
    await store.create(record('p', 'SUCCEEDED', at(2)));
    assert.deepStrictEqual(
      (await store.list({streamed: false})).map(r => r.id),
      ['p'],
    );
    assert.deepStrictEqual(
      (await store.list({streamed: true})).map(r => r.id),
      ['s'],
    );
  });
});
