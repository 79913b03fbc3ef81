import * as assert from 'node:assert';
import * as path from 'node:path';
import {
  bundleConfig,
  contentDigest,
  contentYaml,
  readContent,
} from '../../../shared/config/content';
import {diffConfigs, formatDiff, keyPath} from '../../../shared/config/diff';
import {resolvedValue} from '../../../shared/config/content';
import {MemoryConfigVersions} from '../../../shared/config/memory_versions';
import {
  MAX_VERSION_BYTES,
  type ConfigContent,
  type VersionDraft,
} from '../../../shared/config/versions';
import {VersionTooLargeError} from '../../../shared/errors';
import {TRAINER_MAPPING, writeFixtures} from './fixtures';

const JOB_FILE = JSON.stringify({
  taskGroups: [{taskSpec: {runnables: [{container: {commands: ['eval']}}]}}],
});
const WITH_JOB_FILE = `# the team's mappings
mappings:
${TRAINER_MAPPING}  - name: evaluator   # reads its job from a file
    match: {image: us-central1-docker.pkg.dev/my-project/ml/eval}
    jobFile: jobs/eval.json
`;

function draft(content: ConfigContent, at = new Date(0)): VersionDraft {
  return {
    appliedAt: at,
    appliedBy: 'someone@example.com',
    mappings: ['trainer'],
    sha256: contentDigest(content),
    content,
  };
}

describe('config versions (memory store)', () => {
  it('numbers versions 1, 2, … and refuses an apply against a version that is no longer newest', async () => {
    const store = new MemoryConfigVersions();
    const content = {text: 'mappings: []\n', files: []};
    assert.deepStrictEqual(await store.apply(draft(content), 0), {
      kind: 'applied',
      version: 1,
    });
    assert.deepStrictEqual(await store.apply(draft(content), 1), {
      kind: 'applied',
      version: 2,
    });
    const late = await store.apply(draft(content), 1);
    assert.strictEqual(late.kind, 'conflict');
    assert.strictEqual(late.kind === 'conflict' && late.newer.version, 2);
    assert.deepStrictEqual(
      (await store.list(10)).map(v => v.version),
      [2, 1],
    );
    assert.strictEqual((await store.newest())?.version, 2);
    assert.strictEqual('content' in (await store.newest())!, false);
  });

  it('refuses a version over the document limit and stores nothing', async () => {
    const store = new MemoryConfigVersions();
    const big = {
      text: 'mappings: []\n',
      files: [{path: 'jobs/big.json', text: 'x'.repeat(MAX_VERSION_BYTES)}],
    };
    await assert.rejects(store.apply(draft(big), 0), VersionTooLargeError);
    assert.strictEqual(store.versions.length, 0);
  });
});

describe('config content', () => {
  it('stores jobFile contents with the config, and validates from them without the disk', () => {
    const dir = writeFixtures({
      'pushrun.yaml': WITH_JOB_FILE,
      'jobs/eval.json': JOB_FILE,
    });
    const {content, reading} = bundleConfig(path.join(dir, 'pushrun.yaml'));
    assert.deepStrictEqual(reading.errors, []);
    assert.deepStrictEqual(content?.files, [
      {path: path.join('jobs', 'eval.json'), text: JOB_FILE},
    ]);
    const stored = readContent(content!, 'live-v1.yaml');
    assert.deepStrictEqual(
      stored.config?.mappings.map(m => m.name),
      ['trainer', 'evaluator'],
    );
    const missing = readContent({...content!, files: []}, 'live-v1.yaml');
    assert.strictEqual(missing.config, undefined);
    assert.match(missing.errors[0].message, /not stored with this version/);
  });

  it('show prints one file that means the same: its digest equals the stored one, comments kept', () => {
    const dir = writeFixtures({
      'pushrun.yaml': WITH_JOB_FILE,
      'jobs/eval.json': JOB_FILE,
    });
    const {content} = bundleConfig(path.join(dir, 'pushrun.yaml'));
    const shown = contentYaml(content!);
    assert.match(shown, /# the team's mappings/);
    assert.doesNotMatch(shown, /jobFile/);
    const again = writeFixtures({'shown.yaml': shown});
    const reread = bundleConfig(path.join(again, 'shown.yaml')).content!;
    assert.strictEqual(contentDigest(reread), contentDigest(content!));
    const edited = {...reread, text: reread.text.replace('eval', 'score')};
    assert.notStrictEqual(contentDigest(edited), contentDigest(content!));
  });
});

describe('config diff', () => {
  const value = (text: string) => resolvedValue({text, files: []});
  const BEFORE = `defaults: {streaming: auto}
mappings:
  - {name: a, match: {image: x/a}, job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: [one]}}]}}]}}
  - {name: b, match: {image: x/b}, job: {}}
`;
  const cases: {
    name: string;
    after: string;
    mappings: {name: string; change: string; keys: string[]}[];
    other: string[];
  }[] = [
    {name: 'the same', after: BEFORE, mappings: [], other: []},
    {
      name: 'a changed command, a removed and an added mapping, a default',
      after: `defaults: {streaming: off}
mappings:
  - {name: a, match: {image: x/a}, job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: [one, two]}}]}}]}}
  - {name: c, match: {image: x/c}, job: {}}
`,
      mappings: [
        {
          name: 'a',
          change: 'changed',
          keys: ['job.taskGroups[0].taskSpec.runnables[0].container.commands'],
        },
        {name: 'c', change: 'added', keys: []},
        {name: 'b', change: 'removed', keys: []},
      ],
      other: ['defaults.streaming'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = diffConfigs(value(BEFORE), value(c.after));
      assert.deepStrictEqual(d, {mappings: c.mappings, other: c.other});
    });
  }

  it('against nothing, every mapping is added; the text names each', () => {
    const d = diffConfigs(undefined, value(BEFORE));
    assert.deepStrictEqual(
      d.mappings.map(m => m.change),
      ['added', 'added'],
    );
    assert.match(formatDiff(d), /\+ mapping a: added/);
    assert.strictEqual(
      keyPath(['job', 'taskGroups', 0, 'x']),
      'job.taskGroups[0].x',
    );
  });
});
