import * as assert from 'node:assert';
import {
  humanizeSeconds,
  parseDuration,
  spokenSeconds,
} from '../../shared/duration';

describe('parseDuration', () => {
  const cases = [
    {name: 'seconds', text: '90s', ms: 90_000},
    {name: 'minutes', text: '10m', ms: 600_000},
    {name: 'hours', text: '1h', ms: 3_600_000},
    {name: 'zero', text: '0s', ms: 0},
    {name: 'fraction', text: '1.5m', ms: 90_000},
    {name: 'days', text: '7d', ms: 604_800_000},
  ];
  for (const c of cases) {
    it(c.name, () => assert.strictEqual(parseDuration(c.text), c.ms));
  }
  for (const bad of ['', '10', 'ten minutes', '5w', '-1s']) {
    it(`rejects "${bad}"`, () =>
      assert.throws(() => parseDuration(bad), /invalid duration/));
  }
});

describe('duration formats', () => {
  const durations: [number, string][] = [
    [0, '0s'],
    [4, '4s'],
    [59.6, '1m 00s'],
    [125, '2m 05s'],
    [3600, '1h 00m'],
    [3725, '1h 02m'],
    [90000, '1d 01h'],
    [-3, '0s'],
  ];
  for (const [s, want] of durations) {
    it(`humanizes ${s}s as ${want}`, () =>
      assert.strictEqual(humanizeSeconds(s), want));
  }

  const spoken: [number, string][] = [
    [41, '41 s'],
    [0.4, '0 s'],
    [180, '3 min'],
    [190, '3 min 10 s'],
    [3600, '1 h'],
    [3725, '1 h 2 min'],
    [-5, '0 s'],
  ];
  for (const [s, want] of spoken) {
    it(`says ${s}s as ${want}`, () =>
      assert.strictEqual(spokenSeconds(s), want));
  }
});
