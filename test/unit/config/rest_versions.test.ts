import * as assert from 'node:assert';
import {
  fromValue,
  makeConfigVersionReader,
} from '../../../shared/config/rest_versions';
import {TransientError} from '../../../shared/errors';

/** A fetch that records each request and answers `status` with `body`. */
function answering(status: number, body: unknown) {
  const asked: {url: string; body?: unknown}[] = [];
  const fetchFn = (async (url: string, init?: RequestInit) => {
    asked.push({
      url,
      ...(init?.body && {body: JSON.parse(String(init.body))}),
    });
    return new Response(JSON.stringify(body), {status});
  }) as typeof fetch;
  return {fetchFn, asked};
}

const settings = {project: 'p', firestoreEmulatorHost: '127.0.0.1:1'};

describe('config versions over Firestore REST', () => {
  it('turns REST values into plain ones, timestamps into Dates', () => {
    assert.deepStrictEqual(
      fromValue({
        mapValue: {
          fields: {
            version: {integerValue: '12'},
            appliedAt: {timestampValue: '2026-12-01T10:00:00Z'},
            mappings: {arrayValue: {values: [{stringValue: 'a'}]}},
            files: {arrayValue: {}},
            none: {nullValue: null},
          },
        },
      }),
      {
        version: 12,
        appliedAt: new Date('2026-12-01T10:00:00Z'),
        mappings: ['a'],
        files: [],
        none: null,
      },
    );
  });

  it('asks for the newest version by number, only the summary fields for newest()', async () => {
    const {fetchFn, asked} = answering(200, [
      {document: {name: 'x', fields: {version: {integerValue: '3'}}}},
    ]);
    const reader = makeConfigVersionReader(settings, fetchFn);
    assert.deepStrictEqual(await reader.newest(), {version: 3});
    const q = (asked[0].body as {structuredQuery: Record<string, unknown>})
      .structuredQuery;
    assert.strictEqual(
      asked[0].url,
      'http://127.0.0.1:1/v1/projects/p/databases/(default)/documents:runQuery',
    );
    assert.deepStrictEqual(q.orderBy, [
      {field: {fieldPath: 'version'}, direction: 'DESCENDING'},
    ]);
    assert.strictEqual(q.limit, 1);
    assert.ok(q.select);
  });

  it('no versions, a missing version, and a failing store', async () => {
    assert.strictEqual(
      await makeConfigVersionReader(
        settings,
        answering(200, [{readTime: 'x'}]).fetchFn,
      ).newestContent(),
      undefined,
    );
    const missing = makeConfigVersionReader(
      settings,
      answering(404, {}).fetchFn,
    );
    assert.strictEqual(await missing.get(4), undefined);
    const down = makeConfigVersionReader(settings, answering(503, {}).fetchFn);
    await assert.rejects(down.newest(), TransientError);
  });
});
