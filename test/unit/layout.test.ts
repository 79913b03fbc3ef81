/**
 * The shape of the code (DESIGN.md "Layout"): no import cycles, not even through types, and the
 * library (`shared/`) and the functions import neither the sandbox, the benchmarks nor the tests.
 */
import * as assert from 'node:assert';
import * as path from 'node:path';
import madge from 'madge';
import {repoRoot} from '../../sandbox/functions';

describe('layout', function () {
  this.timeout(60_000);
  let graph: Record<string, string[]>;
  let cycles: string[][];

  before(async () => {
    const root = repoRoot();
    const result = await madge(['shared', 'functions', 'sandbox'], {
      baseDir: root,
      fileExtensions: ['ts'],
      tsConfig: path.join(root, 'tsconfig.json'),
    });
    graph = result.obj();
    cycles = result.circular();
  });

  it('reads the modules', () =>
    assert.ok(Object.keys(graph).length > 50, Object.keys(graph).join(' ')));

  it('has no import cycles', () => assert.deepStrictEqual(cycles, []));

  it('the library and the functions import no sandbox, bench or test module', () => {
    const wrong = Object.entries(graph).flatMap(([file, deps]) =>
      /^(shared|functions)\//.test(file)
        ? deps
            .filter(d => /^(sandbox|bench|test)\//.test(d))
            .map(d => `${file} → ${d}`)
        : [],
    );
    assert.deepStrictEqual(wrong, []);
  });
});
