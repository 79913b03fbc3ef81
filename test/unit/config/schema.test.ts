import * as assert from 'node:assert';
import * as path from 'node:path';
import Ajv, {type ValidateFunction} from 'ajv';
import {AJV_OPTIONS} from '../../../shared/config/schema_options';
import {repoRoot} from '../../../sandbox/functions';

describe('the precompiled config schema', () => {
  const root = repoRoot();
  const schema = require(path.join(root, 'config', 'pushrun.schema.json'));
  const fresh = new Ajv(AJV_OPTIONS).compile(schema);
  // The build compiles it to code (scripts/compile-schema.js); cold starts load that.
  const built = require(
    path.join(root, 'build', 'shared', 'config', 'schema_validator.js'),
  ) as ValidateFunction;

  const docs = [
    {
      name: 'a valid config',
      doc: {mappings: [{name: 'a', match: {image: 'x/y'}}]},
    },
    {name: 'an unknown key', doc: {mappings: [], bogus: 1}},
    {
      name: 'a bad mapping name',
      doc: {mappings: [{name: 'A_B', match: {image: 'x'}}]},
    },
    {
      name: 'a bad streaming policy',
      doc: {defaults: {streaming: 'sometimes'}, mappings: []},
    },
    {name: 'no mappings', doc: {}},
  ];
  for (const c of docs) {
    it(`judges ${c.name} as the schema compiled now does`, () => {
      const a = fresh(c.doc);
      const b = built(c.doc);
      assert.strictEqual(b, a);
      const strip = (v: ValidateFunction) =>
        (v.errors ?? []).map(e => [e.instancePath, e.keyword, e.message]);
      assert.deepStrictEqual(strip(built), strip(fresh));
    });
  }
});
