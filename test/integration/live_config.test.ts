/**
 * The live config (DESIGN.md "Live config") with the real parts: `pushrun config` against the
 * Firestore emulator, and onImagePush under functions-framework following what it applies.
 */
import * as assert from 'node:assert';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type {CloudEvent} from '@google-cloud/functions-framework';
import {makeOnImagePush} from '../../functions/on_image_push';
import {VERSIONS_COLLECTION, versionDocId} from '../../shared/config/versions';
import {makeDeps} from '../../shared/deps';
import {makeFirestore} from '../../shared/runs/firestore_store';
import {parseSettings} from '../../shared/settings';
import {startPrivateFirestoreEmulator} from '../../sandbox/emulators';
import {postPubsubCloudEvent, repoRoot} from '../../sandbox/functions';
import {pushBuiltImage} from '../../sandbox/images';
import {buildLayeredImage} from '../../sandbox/image_builder';
import {startStack, type Stack} from '../../sandbox/stack';
import {recordingLogger} from '../support/fixtures';
import {runCli} from '../support/cli';

const PROJECT = 'pushrun-live';
const IMAGE = 'us-central1-docker.pkg.dev/acme/ml/live';
const config = (command: string, machine = 'e2-standard-4') => `
mappings:
  - name: live
    match: {image: ${IMAGE}}
    job:
      taskGroups: [{taskSpec: {runnables: [{container: {commands: ["${command}"]}}]}}]
      allocationPolicy: {instances: [{policy: {machineType: ${machine}}}]}
`;

type Created = {
  jobId: string;
  job: {
    taskGroups: {taskSpec: {runnables: {container: {commands: string[]}}[]}}[];
    allocationPolicy: {instances: {policy: {machineType: string}}[]};
  };
};

describe('live config: apply, push, history, rollback', function () {
  this.timeout(180_000);
  let stack: Stack;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let pushes = 0;

  before(async function () {
    const started = await startStack({
      project: PROJECT,
      configText: config('bundled'),
      functions: ['onImagePush'],
      keepEmulators: true,
      env: {PUSHRUN_CONFIG_TTL: '0s'},
    });
    if ('missing' in started) {
      console.log(`SKIPPED: live config tests: ${started.missing}`);
      this.skip();
    }
    stack = started;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushrun-live-'));
    env = {
      GOOGLE_CLOUD_PROJECT: PROJECT,
      FIRESTORE_EMULATOR_HOST: stack.firestoreHost,
      METADATA_SERVER_DETECTION: 'none',
    };
  });

  after(async () => {
    await stack?.stop();
    if (dir) fs.rmSync(dir, {recursive: true, force: true});
  });

  const file = (text: string) => {
    const f = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(f, text);
    return f;
  };
  const cli = (...args: string[]) => runCli(args, env);
  const apply = (text: string, ...args: string[]) =>
    cli('config', 'apply', file(text), '--yes', ...args);
  const versions = async () =>
    JSON.parse((await cli('config', 'history', '--json', '--limit', '100')).out)
      .length as number;

  /** Pushes a new image (its own digest) and delivers the event; returns the job it created. */
  async function push(url = stack.functions.onImagePush!.url) {
    const n = ++pushes;
    const built = await buildLayeredImage([{'bin/app': `build ${n}\n`}]);
    const digest = await pushBuiltImage(
      stack.registry.baseUrl,
      'acme/ml/live',
      built,
      `v${n}`,
    );
    const status = await postPubsubCloudEvent(url, {
      data: JSON.stringify({
        action: 'INSERT',
        digest: `${IMAGE}@${digest}`,
        tag: `${IMAGE}:v${n}`,
      }),
    });
    return {status, ...(await launched(digest))};
  }
  async function launched(digest: string) {
    const jobId = `live-${digest.slice(7, 19)}`;
    const req = stack.standin.requests.find(
      r => r.method === 'CreateJob' && r.request.jobId === jobId,
    );
    const record = await stack.store().get(jobId);
    const job = (req?.request as Created | undefined)?.job;
    return {
      command: job?.taskGroups[0].taskSpec.runnables[0].container.commands[0],
      machine: job?.allocationPolicy.instances[0].policy.machineType,
      configVersion: record?.configVersion,
    };
  }

  it('uses the bundled file until a version is applied; apply → push → the new job, with configVersion', async () => {
    const before = await push();
    assert.strictEqual(before.status, 204);
    assert.deepStrictEqual(
      [before.command, before.configVersion],
      ['bundled', 'bundled'],
    );
    const applied = await apply(config('one'), '--message', 'first edit');
    assert.strictEqual(applied.code, 0, applied.err);
    assert.match(applied.out, /applied as version 1/);
    const after = await push();
    assert.deepStrictEqual([after.command, after.configVersion], ['one', 1]);
    const [h] = JSON.parse((await cli('config', 'history', '--json')).out);
    assert.deepStrictEqual(
      [h.version, h.appliedBy, h.message, h.mappings],
      [1, 'unknown', 'first edit', ['live']],
    );
  });

  it('stores nothing for an invalid file, for the same content, and without a terminal or --yes', async () => {
    const n = await versions();
    const invalid = await apply('mappings: [{name: Live}]\n');
    assert.strictEqual(invalid.code, 1);
    assert.match(invalid.err, /\.yaml:1:\d+ /);
    const same = await apply(config('one'));
    assert.strictEqual(same.code, 0);
    assert.match(same.out, /nothing to apply/);
    const bin = path.join(repoRoot(), 'bin', 'pushrun');
    const noTerminal = spawnSync(
      process.execPath,
      [bin, 'config', 'apply', file(config('two'))],
      {env: {...process.env, ...env}, input: '', encoding: 'utf8'},
    );
    assert.strictEqual(noTerminal.status, 2, noTerminal.stderr);
    assert.match(noTerminal.stderr, /no terminal/);
    assert.strictEqual(await versions(), n);
  });

  it('show round-trips; rollback brings the previous mappings back for the next push', async () => {
    assert.strictEqual((await apply(config('two'))).code, 0);
    assert.deepStrictEqual((await push()).command, 'two');
    const shown = await cli('config', 'show');
    assert.strictEqual(shown.code, 0);
    const again = await cli('config', 'apply', file(shown.out), '--yes');
    assert.match(again.out, /nothing to apply/);
    const back = await cli('config', 'rollback', '1', '--yes');
    assert.strictEqual(back.code, 0, back.err);
    const version = Number(/applied as version (\d+)/.exec(back.out)![1]);
    assert.deepStrictEqual(
      [(await push()).command, (await push()).configVersion],
      ['one', version],
    );
    const plan = await runCli(['plan', `${IMAGE}:v1`], {
      ...env,
      PUSHRUN_REGISTRY_ENDPOINT: stack.registry.baseUrl,
    });
    assert.match(plan.err, new RegExp(`config: live version ${version}`));
  });

  it('five concurrent applies get contiguous, unique versions; a loser is told (exit 3) and applies again; none is lost', async () => {
    const start = await versions();
    const applyUntilStored = async (i: number) => {
      const conflicts: string[] = [];
      for (;;) {
        const r = await apply(config(`race${i}`));
        if (r.code === 0) {
          const version = Number(/applied as version (\d+)/.exec(r.out)![1]);
          return {version, conflicts};
        }
        assert.strictEqual(r.code, 3, r.err);
        assert.match(r.err, /version \d+ was applied by unknown at \d{4}-/);
        conflicts.push(r.err);
      }
    };
    const results = await Promise.all([1, 2, 3, 4, 5].map(applyUntilStored));
    const numbers = results.map(r => r.version).sort((a, b) => a - b);
    assert.deepStrictEqual(
      numbers,
      [1, 2, 3, 4, 5].map(k => start + k),
    );
    assert.ok(
      results.some(r => r.conflicts.length > 0),
      'some applies met',
    );
    const stored = await Promise.all(
      results.map((_, i) =>
        cli('config', 'show', '--version', `${start + i + 1}`),
      ),
    );
    const commands = stored.map(s => /race(\d)/.exec(s.out)![1]).sort();
    assert.deepStrictEqual(commands, ['1', '2', '3', '4', '5']);
  });

  it('pushes in the same second as an apply all succeed, each with one whole version', async () => {
    const before = await versions();
    const [results] = await Promise.all([
      Promise.all([1, 2, 3, 4, 5, 6].map(() => push())),
      apply(config('whole', 'n2-standard-8')),
    ]);
    for (const r of results) {
      assert.strictEqual(r.status, 204);
      const newer = r.configVersion === before + 1;
      assert.deepStrictEqual(
        [r.command === 'whole', r.machine === 'n2-standard-8'],
        [newer, newer],
        JSON.stringify(r),
      );
    }
  });

  it('a corrupted version written straight to Firestore is refused and logged once; the last good one stays', async () => {
    const good = await versions();
    const bad = good + 1;
    const db = makeFirestore(parseSettings(env));
    await db
      .collection(VERSIONS_COLLECTION)
      .doc(versionDocId(bad))
      .set({
        version: bad,
        appliedAt: new Date(),
        appliedBy: 'someone',
        mappings: ['live'],
        sha256: 'x',
        content: {text: 'mappings: [{name: live, match: 7}]', files: []},
      });
    await db.terminate();
    const logs = stack.functions.onImagePush!.logs.length;
    const first = await push();
    const second = await push();
    assert.deepStrictEqual(
      [first.status, first.configVersion, second.configVersion],
      [204, good, good],
    );
    const refusals = stack.functions
      .onImagePush!.logs.slice(logs)
      .filter(l => l.severity === 'ERROR');
    assert.strictEqual(refusals.length, 1, JSON.stringify(refusals));
    assert.match(
      String(refusals[0].message),
      new RegExp(`version ${bad} is invalid`),
    );
  });

  it('the store stopped while a function holds a config in memory: pushes keep working', async function () {
    const own = await startPrivateFirestoreEmulator();
    if (!own) this.skip();
    const ownEnv = {...env, FIRESTORE_EMULATOR_HOST: own!.host};
    // The Firestore client prefers this process's variable to its settings: point it at the
    // emulator to stop while the clients of this test are made (the run store's exists already).
    const suiteHost = process.env.FIRESTORE_EMULATOR_HOST;
    process.env.FIRESTORE_EMULATOR_HOST = own!.host;
    try {
      const file1 = file(config('held'));
      const r = await runCli(['config', 'apply', file1, '--yes'], ownEnv);
      assert.strictEqual(r.code, 0, r.err);
      // onImagePush in this process: its config store is the emulator we stop; runs go on
      // being recorded in the suite's emulator.
      const log = recordingLogger();
      const deps = makeDeps(
        parseSettings({...stack.env, ...ownEnv, PUSHRUN_CONFIG_TTL: '0s'}),
        {store: stack.store(), log},
      );
      const handler = makeOnImagePush(deps);
      const deliver = (url: string) => deliverInProcess(handler, url);
      assert.strictEqual((await push(await deliver('held'))).command, 'held');
      await own!.stop();
      const t0 = Date.now();
      const during = await push(await deliver('down'));
      assert.deepStrictEqual(
        [during.command, during.configVersion],
        ['held', 1],
      );
      assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
      assert.ok(
        log.lines.some(l =>
          /could not read the live config/.test(String(l.message)),
        ),
      );
    } finally {
      process.env.FIRESTORE_EMULATOR_HOST = suiteHost;
      await own?.stop();
    }
  });
});

/**
 * A tiny HTTP front for an in-process handler, so `push()` can deliver to it as to a served
 * function: the request body becomes the CloudEvent the framework would build.
 */
async function deliverInProcess(
  handler: (e: CloudEvent<unknown>) => Promise<void>,
  name: string,
): Promise<string> {
  const http = await import('node:http');
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', c => (body += c));
    req.on('end', () => {
      const event = {
        id: String(req.headers['ce-id']),
        type: String(req.headers['ce-type']),
        source: String(req.headers['ce-source']),
        specversion: '1.0',
        time: String(req.headers['ce-time']),
        data: JSON.parse(body),
      } as CloudEvent<unknown>;
      handler(event).then(
        () => {
          res.statusCode = 204;
          res.end();
          server.close();
        },
        () => {
          res.statusCode = 500;
          res.end();
          server.close();
        },
      );
    });
  });
  await new Promise<void>(done => server.listen(0, '127.0.0.1', done));
  const {port} = server.address() as {port: number};
  return `http://127.0.0.1:${port}/${name}`;
}
