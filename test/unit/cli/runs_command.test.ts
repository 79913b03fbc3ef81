import {runRecord} from '../../support/fixtures';
import * as assert from 'node:assert';
import {runsCommand} from '../../../shared/cli/runs_command';
import {MemoryRunStore} from '../../../shared/runs/memory_store';
import {RunRecord} from '../../../shared/runs/record';
import {RunStore} from '../../../shared/runs/store';
import {runModule} from '../../support/cli';

const T0 = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

function record(id: string, extra: Partial<RunRecord> = {}): RunRecord {
  return runRecord(id, {
    digest: 'sha256:0123456789abcdef0123',
    state: 'SUCCEEDED',
    createdAt: at(0),
    launchedAt: at(0),
    durationSeconds: 125,
    history: [
      {state: 'QUEUED', at: at(0)},
      {state: 'SUCCEEDED', at: at(130)},
    ],
    ...extra,
  });
}

/** Runs `pushrun ARGS` with the runs module over `store`, the way `main` wires it. */
const run = (store: RunStore, args: string[]) =>
  runModule(runsCommand({store: () => store}), args);

async function seeded() {
  const store = new MemoryRunStore();
  await store.create(record('trainer-0123456789ab'));
  await store.create(
    record('trainer-aaaaaaaaaaaa', {
      digest: 'sha256:aaaaaaaaaaaaffff',
      createdAt: at(60),
      launchedAt: at(60),
      state: 'FAILED',
      streaming: {
        requested: 'auto',
        enabled: false,
        reasons: [
          {
            code: 'LOCATION_MISMATCH',
            message: 'image in europe, job in us-central1',
          },
        ],
      },
    }),
  );
  await store.create(
    record('skip-eval-bbbbbbbbbbbb', {
      mapping: 'eval',
      digest: 'sha256:bbbbbbbbbbbbcccc',
      tags: [],
      createdAt: at(120),
      launchedAt: undefined,
      pushedAt: at(119),
      jobName: undefined,
      state: 'SKIPPED',
      durationSeconds: undefined,
      streaming: {
        requested: 'required',
        enabled: false,
        reasons: [{code: 'EMPTY_LAYER', message: 'layer 2'}],
      },
    }),
  );
  return store;
}

describe('pushrun runs', () => {
  it('prints a table, newest first', async () => {
    const {code, out} = await run(await seeded(), ['runs']);
    assert.strictEqual(code, 0);
    assert.deepStrictEqual(out.split('\n'), [
      'STARTED               MAPPING  IMAGE            DIGEST        STATE      STREAMED               DURATION',
      '2026-01-01 00:01:59Z  eval     p/ml/trainer     bbbbbbbbbbbb  SKIPPED    no: EMPTY_LAYER        -',
      '2026-01-01 00:01:00Z  trainer  p/ml/trainer:v1  aaaaaaaaaaaa  FAILED     no: LOCATION_MISMATCH  2m 05s',
      '2026-01-01 00:00:00Z  trainer  p/ml/trainer:v1  0123456789ab  SUCCEEDED  yes                    2m 05s',
      '',
    ]);
  });

  const filters: {name: string; args: string[]; ids: string[]}[] = [
    {
      name: '--mapping',
      args: ['--mapping', 'eval'],
      ids: ['skip-eval-bbbbbbbbbbbb'],
    },
    {
      name: '--state',
      args: ['--state', 'FAILED'],
      ids: ['trainer-aaaaaaaaaaaa'],
    },
    {
      name: '--image',
      args: [
        '--image',
        'us-central1-docker.pkg.dev/p/ml/trainer',
        '--limit',
        '2',
      ],
      ids: ['skip-eval-bbbbbbbbbbbb', 'trainer-aaaaaaaaaaaa'],
    },
    {name: '--image no match', args: ['--image', 'x'], ids: []},
  ];
  for (const f of filters) {
    it(`filters with ${f.name} (--json)`, async () => {
      const {code, out} = await run(await seeded(), [
        'runs',
        ...f.args,
        '--json',
      ]);
      assert.strictEqual(code, 0);
      assert.deepStrictEqual(
        (JSON.parse(out) as RunRecord[]).map(r => r.id),
        f.ids,
      );
    });
  }

  it('says in the state column why a run was cancelled or skipped by a rule', async () => {
    const store = new MemoryRunStore();
    await store.create(
      record('trainer-aaaaaaaaaaaa', {
        state: 'CANCELLED',
        supersededBy: 'trainer-bbbbbbbbbbbb',
      }),
    );
    await store.create(
      record('skip-trainer-cccccccccccc', {
        state: 'SKIPPED',
        skipCode: 'RATE_LIMITED',
        skipReason: 'limit maxRunsPerHour: 2 of 2 runs this hour',
        createdAt: at(60),
      }),
    );
    const {out} = await run(store, ['runs']);
    assert.match(out, /CANCELLED \(superseded by trainer-bbbbbbbbbbbb\)/);
    assert.match(out, /SKIPPED \(RATE_LIMITED\)/);
    const show = await run(store, ['runs', 'show', 'trainer-aaaaaaaaaaaa']);
    assert.match(show.out, /superseded by\s+trainer-bbbbbbbbbbbb/);
  });

  it('says so when there are no runs', async () => {
    const {out} = await run(new MemoryRunStore(), ['runs']);
    assert.strictEqual(out, 'No runs.\n');
  });

  const bad: {name: string; args: string[]; msg: RegExp}[] = [
    {
      name: 'an unknown state',
      args: ['--state', 'DONE'],
      msg: /--state must be one of/,
    },
    {
      name: 'a zero limit',
      args: ['--limit', '0'],
      msg: /--limit must be a positive/,
    },
    {
      name: 'a word limit',
      args: ['--limit', 'ten'],
      msg: /--limit must be a positive/,
    },
  ];
  for (const b of bad) {
    it(`rejects ${b.name} with exit 2`, async () => {
      const {code, err} = await run(await seeded(), ['runs', ...b.args]);
      assert.strictEqual(code, 2);
      assert.match(err, b.msg);
    });
  }

  it('exits 2 when the store fails', async () => {
    const broken = new MemoryRunStore();
    broken.list = async () => {
      throw new Error('Firestore unavailable');
    };
    const {code, err} = await run(broken, ['runs']);
    assert.strictEqual(code, 2);
    assert.match(err, /could not read runs: Firestore unavailable/);
  });
});

describe('pushrun runs show', () => {
  it('prints the record and its history', async () => {
    const {code, out} = await run(await seeded(), [
      'runs',
      'show',
      'trainer-aaaaaaaaaaaa',
    ]);
    assert.strictEqual(code, 0);
    const lines = out.split('\n');
    assert.strictEqual(lines[0], 'Run trainer-aaaaaaaaaaaa');
    assert.ok(lines.includes('  state       FAILED'), out);
    assert.ok(
      lines.includes('  streaming   no (LOCATION_MISMATCH) (requested: auto)'),
      out,
    );
    assert.ok(
      lines.includes(
        '              LOCATION_MISMATCH: image in europe, job in us-central1',
      ),
      out,
    );
    assert.ok(
      lines.includes(
        '  console     https://console.cloud.google.com/batch/jobsDetail/regions/us-central1/jobs/trainer-aaaaaaaaaaaa/details?project=p',
      ),
      out,
    );
    assert.deepStrictEqual(lines.slice(-4), [
      'History',
      '  2026-01-01 00:00:00Z  QUEUED',
      '  2026-01-01 00:02:10Z  SUCCEEDED',
      '',
    ]);
  });

  it('prints JSON with --json', async () => {
    const {out} = await run(await seeded(), [
      'runs',
      'show',
      'skip-eval-bbbbbbbbbbbb',
      '--json',
    ]);
    const r = JSON.parse(out);
    assert.strictEqual(r.state, 'SKIPPED');
    assert.strictEqual(r.history.length, 2);
  });

  it('exits 1 for an unknown run', async () => {
    const {code, err} = await run(await seeded(), ['runs', 'show', 'nope']);
    assert.strictEqual(code, 1);
    assert.match(err, /no run nope/);
  });
});
