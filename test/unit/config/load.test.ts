import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {clearConfigCache, configFile, loadConfig} from '../../../shared/config';
import {ConfigError} from '../../../shared/errors';
import {parseSettings} from '../../../shared/settings';
import {writeFixtures, TRAINER_MAPPING} from './fixtures';

describe('loadConfig', () => {
  afterEach(() => clearConfigCache());

  it('reads the file named by PUSHRUN_CONFIG', () => {
    const dir = writeFixtures({'c.yaml': `mappings:\n${TRAINER_MAPPING}`});
    const file = path.join(dir, 'c.yaml');
    const config = loadConfig(
      configFile(undefined, parseSettings({PUSHRUN_CONFIG: file})),
    );
    assert.strictEqual(config.file, file);
    assert.deepStrictEqual(
      config.mappings.map(m => m.name),
      ['trainer'],
    );
  });

  it('reads the file once per process', () => {
    const dir = writeFixtures({'c.yaml': `mappings:\n${TRAINER_MAPPING}`});
    const file = path.join(dir, 'c.yaml');
    const first = loadConfig(file);
    fs.writeFileSync(file, 'not: [valid');
    assert.strictEqual(loadConfig(file), first);
    clearConfigCache();
    assert.throws(() => loadConfig(file), ConfigError);
  });

  it('throws ConfigError listing every problem as FILE:LINE:COL', () => {
    const dir = writeFixtures({
      'c.yaml':
        'mappings:\n  - name: Bad\n    match: {image: x}\n    streaming: sometimes\n',
    });
    const file = path.join(dir, 'c.yaml');
    assert.throws(
      () => loadConfig(file),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.deepStrictEqual(e.problems, [
          `${file}:2:11 mappings.0.name does not match ^[a-z]([a-z0-9-]{0,48}[a-z0-9])?$ (Unique; lowercase letters, digits and hyphens, at most 50 characters. The job id is <name>-<first 12 hex digits of the digest>.)`,
          `${file}:4:16 mappings.0.streaming must be one of auto, required, off`,
        ]);
        assert.match(e.message, /invalid config .*c\.yaml: 2 problems/);
        return true;
      },
    );
  });

  it('reports a missing file as a problem', () => {
    assert.throws(
      () => loadConfig('/nonexistent/pushrun.yaml'),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems[0] ===
          '/nonexistent/pushrun.yaml:1:1 cannot read config: no such file',
    );
  });

  const fileCases = [
    {
      name: 'argument first',
      file: 'a.yaml',
      env: {PUSHRUN_CONFIG: 'b.yaml'},
      want: 'a.yaml',
    },
    {
      name: 'then PUSHRUN_CONFIG',
      file: undefined,
      env: {PUSHRUN_CONFIG: 'b.yaml'},
      want: 'b.yaml',
    },
    {
      name: 'then the default',
      file: undefined,
      env: {},
      want: 'config/pushrun.yaml',
    },
  ];
  for (const c of fileCases) {
    it(`configFile: ${c.name}`, () =>
      assert.strictEqual(configFile(c.file, parseSettings(c.env)), c.want));
  }
});
