import * as assert from 'node:assert';
import {contentDigest} from '../../../shared/config/content';
import {makeLiveConfigSource} from '../../../shared/config/live';
import {parseConfig} from '../../../shared/config';
import {MemoryConfigVersions} from '../../../shared/config/memory_versions';
import type {
  ConfigContent,
  StoredVersion,
} from '../../../shared/config/versions';
import {TransientError} from '../../../shared/errors';
import {recordingLogger} from '../../support/fixtures';

const mappingText = (command: string) => `mappings:
  - name: trainer
    match: {image: us-central1-docker.pkg.dev/p/ml/trainer}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: [${command}]}}]}}]}
`;
const BUNDLED = parseConfig(mappingText('bundled'), 'pushrun.yaml').config!;

function push(
  store: MemoryConfigVersions,
  content: ConfigContent,
  sha256 = contentDigest(content),
) {
  store.versions.push({
    version: store.versions.length + 1,
    appliedAt: new Date(0),
    appliedBy: 'unknown',
    mappings: ['trainer'],
    sha256,
    content,
  });
}
const text = (command: string): ConfigContent => ({
  text: mappingText(command),
  files: [],
});
const command = (c: {config: {mappings: readonly {job: unknown}[]}}) =>
  JSON.stringify(c.config.mappings[0].job).match(/"commands":\["(\w+)"/)?.[1];

/** A source over a memory store whose reads can be made to fail, with a clock tests move. */
function setup(ttlMs = 1000) {
  const store = new MemoryConfigVersions();
  const log = recordingLogger();
  let now = 0;
  let failing = false;
  let reads = 0;
  const guard =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...a: A) => {
      reads++;
      if (failing) throw new Error('store down');
      return fn(...a);
    };
  const versions = {
    newest: guard(() => store.newest()),
    newestContent: guard(() => store.newestContent()),
    get: guard((n: number) => store.get(n)),
    list: guard((n: number) => store.list(n)),
    apply: store.apply.bind(store),
  };
  const source = makeLiveConfigSource({
    versions,
    bundled: () => BUNDLED,
    ttlMs,
    log,
    clock: () => now,
  });
  return {
    store,
    source,
    log,
    tick: (ms: number) => (now += ms),
    fail: (f: boolean) => (failing = f),
    reads: () => reads,
  };
}

describe('live config source', () => {
  it('uses the bundled file while no version exists, then the newest version after the TTL', async () => {
    const s = setup();
    assert.strictEqual((await s.source.current()).version, 'bundled');
    push(s.store, text('one'));
    assert.strictEqual((await s.source.current()).version, 'bundled');
    s.tick(1000);
    const live = await s.source.current();
    assert.strictEqual(live.version, 1);
    assert.strictEqual(command(live), 'one');
  });

  it('reads once per TTL, and concurrent events share one read', async () => {
    const s = setup();
    push(s.store, text('one'));
    await Promise.all([1, 2, 3].map(() => s.source.current()));
    assert.strictEqual(s.reads(), 1, 'a cold instance makes one read');
    await s.source.current();
    assert.strictEqual(s.reads(), 1);
    s.tick(1000);
    await s.source.current();
    assert.strictEqual(s.reads(), 2, 'the same version: no content fetched');
  });

  it('keeps the config in memory when a read fails; with none in memory the event is retried', async () => {
    const s = setup();
    s.fail(true);
    await assert.rejects(s.source.current(), TransientError);
    s.fail(false);
    push(s.store, text('one'));
    assert.strictEqual((await s.source.current()).version, 1);
    s.fail(true);
    s.tick(1000);
    assert.strictEqual((await s.source.current()).version, 1);
    assert.ok(
      s.log.lines.some(l =>
        /could not read the live config/.test(String(l.message)),
      ),
    );
  });

  it('refuses an invalid version once, logged once, keeping the last good one', async () => {
    const s = setup();
    push(s.store, text('one'));
    await s.source.current();
    push(s.store, {text: 'mappings: [{name: 7}]\n', files: []});
    for (let i = 0; i < 3; i++) {
      s.tick(1000);
      assert.strictEqual((await s.source.current()).version, 1);
    }
    const errors = s.log.lines.filter(l => l.severity === 'ERROR');
    assert.strictEqual(errors.length, 1);
    assert.match(String(errors[0].message), /version 2 is invalid/);
    assert.ok((errors[0].problems as string[])[0].startsWith('live-v2.yaml:'));
  });

  it('a cold instance whose newest version is invalid (or corrupt) uses the newest good one', async () => {
    const s = setup();
    push(s.store, text('one'));
    push(s.store, {text: 42, files: 'x'} as unknown as ConfigContent, 'x');
    const live = await s.source.current();
    assert.strictEqual(live.version, 1);
    assert.strictEqual(
      s.log.lines.filter(l => l.severity === 'ERROR').length,
      1,
    );
    (s.store.versions[0] as {content: unknown} & StoredVersion).content = {
      text: 'nope: [',
      files: [],
    };
    const bad = setup();
    bad.store.versions.push(s.store.versions[0]);
    await assert.rejects(bad.source.current(), TransientError);
  });
});
