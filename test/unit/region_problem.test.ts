import * as assert from 'node:assert';
import {
  REGIONS,
  UnknownRegionError,
  assertRegion,
  closestRegion,
  regionProblem,
} from '../../shared/locations';

describe('regionProblem', () => {
  const cases = [
    {
      name: 'a typo',
      text: 'us-centrall1',
      suggestion: 'us-central1',
      says: /"us-centrall1" is not a Google Cloud region: did you mean us-central1\?/,
    },
    {
      name: 'a zone',
      text: 'us-central1-a',
      suggestion: 'us-central1',
      says: /"us-central1-a" is a zone, not a region.*us-central1$/,
    },
    {
      name: 'upper case',
      text: 'US-CENTRAL1',
      suggestion: 'us-central1',
      says: /region names are lowercase; use us-central1$/,
    },
    {
      name: 'an upper-case zone',
      text: 'Europe-West4-B',
      suggestion: 'europe-west4',
      says: /is a zone, not a region.*europe-west4$/,
    },
    {
      name: 'a multi-region',
      text: 'europe',
      suggestion: 'europe-central2',
      says: /"europe" is a multi-region.*such as europe-central2$/,
    },
    {
      name: 'a missing digit',
      text: 'europe-west',
      suggestion: 'europe-west1',
      says: /did you mean europe-west1\?/,
    },
    {
      name: 'a zone of a misspelled region',
      text: 'asia-northeast-1a',
      suggestion: 'asia-northeast1',
      says: /did you mean asia-northeast1\?/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.text} → ${c.suggestion}`, () => {
      const p = regionProblem(c.text);
      assert.strictEqual(p?.suggestion, c.suggestion);
      assert.match(p.message, c.says);
      assert.throws(
        () => assertRegion(c.text),
        (e: unknown) =>
          e instanceof UnknownRegionError &&
          e.suggestion === c.suggestion &&
          e.input === c.text,
      );
    });
  }

  it('every known region is fine', () => {
    for (const r of REGIONS) assert.strictEqual(regionProblem(r), undefined);
  });

  it('a known region is closest to itself', () => {
    for (const r of REGIONS) assert.strictEqual(closestRegion(r), r);
  });
});
