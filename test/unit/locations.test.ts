import * as assert from 'node:assert';
import {
  MULTI_REGION_MEMBERS,
  MULTI_REGIONS,
  isKnownRegion,
  isMultiRegion,
  locationContains,
} from '../../shared/locations';

describe('locations', () => {
  const contains = [
    {
      name: 'same region',
      image: 'us-central1',
      region: 'us-central1',
      want: true,
    },
    {
      name: 'other region',
      image: 'us-central1',
      region: 'europe-west1',
      want: false,
    },
    {name: 'us contains us-east1', image: 'us', region: 'us-east1', want: true},
    {
      name: 'us does not contain northamerica-northeast1',
      image: 'us',
      region: 'northamerica-northeast1',
      want: false,
    },
    {
      name: 'europe contains europe-west4',
      image: 'europe',
      region: 'europe-west4',
      want: true,
    },
    {
      name: 'europe does not contain London',
      image: 'europe',
      region: 'europe-west2',
      want: false,
    },
    {
      name: 'asia contains asia-northeast1',
      image: 'asia',
      region: 'asia-northeast1',
      want: true,
    },
    {
      name: 'asia does not contain australia',
      image: 'asia',
      region: 'australia-southeast1',
      want: false,
    },
    {
      name: 'a region does not contain its multi-region',
      image: 'us-east1',
      region: 'us',
      want: false,
    },
  ];
  for (const c of contains) {
    it(`locationContains: ${c.name}`, () => {
      assert.strictEqual(locationContains(c.image, c.region), c.want);
    });
  }

  const guards = [
    {name: 'us', multi: true, known: false},
    {name: 'us-central1', multi: false, known: true},
    {name: 'mars-north1', multi: false, known: false},
  ];
  for (const c of guards) {
    it(`type guards: ${c.name}`, () => {
      assert.strictEqual(isMultiRegion(c.name), c.multi);
      assert.strictEqual(isKnownRegion(c.name), c.known);
    });
  }

  it('lists only known regions inside multi-regions', () => {
    for (const m of MULTI_REGIONS) {
      for (const r of MULTI_REGION_MEMBERS[m]) assert.ok(isKnownRegion(r), r);
    }
  });
});
