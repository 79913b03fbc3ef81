import * as assert from 'node:assert';
import {parseDuration} from '../../shared/duration';

describe('parseDuration', () => {
  const cases = [
    {name: 'seconds', text: '90s', ms: 90_000},
    {name: 'minutes', text: '10m', ms: 600_000},
    {name: 'hours', text: '1h', ms: 3_600_000},
    {name: 'zero', text: '0s', ms: 0},
    {name: 'fraction', text: '1.5m', ms: 90_000},
  ];
  for (const c of cases) {
    it(c.name, () => assert.strictEqual(parseDuration(c.text), c.ms));
  }
  for (const bad of ['', '10', 'ten minutes', '5w', '-1s']) {
    it(`rejects "${bad}"`, () =>
      assert.throws(() => parseDuration(bad), /invalid duration/));
  }
});
