import * as assert from 'node:assert';
import * as path from 'node:path';
import {configCommand} from '../../../shared/cli/config_command';
import type {LiveCommandDeps} from '../../../shared/cli/config_live_command';
import {MemoryConfigVersions} from '../../../shared/config/memory_versions';
import {runModule} from '../../support/cli';
import {writeFixtures} from '../config/fixtures';

const config = (command: string) => `mappings:
  - name: trainer
    match: {image: us-central1-docker.pkg.dev/p/ml/trainer}
    job:
      taskGroups: [{taskSpec: {runnables: [{container: {commands: [${command}]}}]}}]
`;

/** `pushrun config ARGS` over a memory store, with a terminal that answers `answer` (none: no terminal). */
function cli(
  store = new MemoryConfigVersions(),
  opts: {answer?: boolean; identity?: () => Promise<string>} = {},
) {
  const asked: string[] = [];
  const live: LiveCommandDeps = {
    versions: () => store,
    identity: opts.identity ?? (async () => 'ada@example.com'),
    interactive: () => opts.answer !== undefined,
    confirm: async q => {
      asked.push(q);
      return opts.answer!;
    },
    now: () => new Date('2026-12-01T10:00:00Z'),
  };
  const module = configCommand({
    repositories: () => assert.fail('no online check'),
    topics: () => assert.fail('no online check'),
    live,
  });
  const run = (...args: string[]) => runModule(module, ['config', ...args]);
  return {store, run, asked};
}

const file = (text: string) =>
  path.join(writeFixtures({'pushrun.yaml': text}), 'pushrun.yaml');

describe('pushrun config apply, diff, history, show, rollback', () => {
  it('apply --yes stores version 1 with who, when and why; the same file again is "nothing to apply"', async () => {
    const {store, run} = cli();
    const f = file(config('one'));
    const first = await run('apply', f, '--yes', '--message', 'first');
    assert.strictEqual(first.code, 0, first.err);
    assert.match(first.out, /\+ mapping trainer: added/);
    assert.match(first.out, /applied as version 1/);
    assert.deepStrictEqual(
      {...store.versions[0], content: undefined, sha256: undefined},
      {
        version: 1,
        appliedAt: new Date('2026-12-01T10:00:00Z'),
        appliedBy: 'ada@example.com',
        message: 'first',
        mappings: ['trainer'],
        sha256: undefined,
        content: undefined,
      },
    );
    const again = await run('apply', f, '--yes');
    assert.strictEqual(again.code, 0);
    assert.match(again.out, /nothing to apply/);
    assert.strictEqual(store.versions.length, 1);
  });

  const refused: {
    name: string;
    text: string;
    answer?: boolean;
    code: number;
    err: RegExp;
  }[] = [
    {
      name: 'an invalid file: exit 1 with FILE:LINE:COL lines',
      text: 'mappings: [{name: Bad}]\n',
      code: 1,
      err: /pushrun\.yaml:1:\d+ /,
    },
    {
      name: 'no terminal and no --yes: exit 2',
      text: config('two'),
      code: 2,
      err: /no terminal.*--yes/,
    },
    {
      name: 'a person says no: exit 2',
      text: config('two'),
      answer: false,
      code: 2,
      err: /not applied/,
    },
  ];
  for (const c of refused) {
    it(`stores nothing for ${c.name}`, async () => {
      const {store, run} = cli(undefined, {answer: c.answer});
      const r = await run('apply', file(c.text));
      assert.strictEqual(r.code, c.code, r.err);
      assert.match(r.err, c.err);
      assert.strictEqual(store.versions.length, 0);
    });
  }

  it('asks on a terminal and applies on yes, changed keys listed', async () => {
    const {store, run} = cli();
    await run('apply', file(config('one')), '--yes');
    const asking = cli(store, {answer: true});
    const r = await asking.run('apply', file(config('two')));
    assert.strictEqual(r.code, 0, r.err);
    assert.deepStrictEqual(asking.asked, ['Apply as version 2? [y/N] ']);
    assert.match(
      r.out,
      /~ mapping trainer: changed\n {4}job\.taskGroups\[0\]\.taskSpec\.runnables\[0\]\.container\.commands/,
    );
  });

  it('a version stored after this apply read the live config: exit 3 naming it, who and when', async () => {
    const store = new MemoryConfigVersions();
    const other = cli(store);
    await other.run('apply', file(config('one')), '--yes');
    // Someone else applies while this apply is between its read and its write.
    const racing = cli(store, {
      identity: async () => {
        await other.run('apply', file(config('other')), '--yes');
        return 'bob@example.com';
      },
    });
    const r = await racing.run('apply', file(config('mine')), '--yes');
    assert.strictEqual(r.code, 3, r.err);
    assert.match(
      r.err,
      /version 2 was applied by ada@example\.com at 2026-12-01T10:00:00\.000Z/,
    );
    assert.strictEqual(store.versions.length, 2);
  });

  it('diff: 0 same, 1 differs, 2 invalid', async () => {
    const {run} = cli();
    await run('apply', file(config('one')), '--yes');
    assert.strictEqual((await run('diff', file(config('one')))).code, 0);
    const differs = await run('diff', file(config('two')));
    assert.strictEqual(differs.code, 1);
    assert.match(differs.out, /container\.commands/);
    assert.strictEqual((await run('diff', file('mappings: 3\n'))).code, 2);
  });

  it('history --json, show round-trips, rollback brings a version back as a new one', async () => {
    const {store, run} = cli();
    await run('apply', file(config('one')), '--yes', '--message', 'm1');
    await run('apply', file(config('two')), '--yes');
    const history = JSON.parse((await run('history', '--json')).out);
    assert.deepStrictEqual(
      history.map((h: {version: number; message: string | null}) => [
        h.version,
        h.message,
      ]),
      [
        [2, null],
        [1, 'm1'],
      ],
    );
    assert.deepStrictEqual(Object.keys(history[0]).sort(), [
      'appliedAt',
      'appliedBy',
      'mappings',
      'message',
      'sha256',
      'version',
    ]);
    const shown = await run('show', '--version', '1');
    assert.strictEqual(shown.code, 0);
    const r = await run('rollback', '1', '--yes');
    assert.strictEqual(r.code, 0, r.err);
    assert.match(r.out, /applied as version 3/);
    assert.strictEqual(store.versions[2].sha256, store.versions[0].sha256);
    assert.strictEqual(store.versions[2].message, 'rollback to version 1');
    const reapplied = await run('apply', file(shown.out), '--yes');
    assert.match(reapplied.out, /nothing to apply/);
    assert.strictEqual((await run('rollback', '9', '--yes')).code, 1);
    assert.strictEqual((await run('show', '--version', '9')).code, 1);
  });
});
