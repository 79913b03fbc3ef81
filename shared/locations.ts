/**
 * Google Cloud locations, as far as image streaming cares: Batch streams an image only when the
 * job's VMs run in the image's Artifact Registry location, either the same region or a region
 * inside the image's multi-region. See
 * https://cloud.google.com/artifact-registry/docs/repo-locations and
 * https://cloud.google.com/batch/docs/use-image-streaming
 */

/** Compute regions Batch can run in (from `gcloud compute regions list`). */
export const REGIONS = [
  'africa-south1',
  'asia-east1',
  'asia-east2',
  'asia-northeast1',
  'asia-northeast2',
  'asia-northeast3',
  'asia-south1',
  'asia-south2',
  'asia-southeast1',
  'asia-southeast2',
  'australia-southeast1',
  'australia-southeast2',
  'europe-central2',
  'europe-north1',
  'europe-north2',
  'europe-southwest1',
  'europe-west1',
  'europe-west2',
  'europe-west3',
  'europe-west4',
  'europe-west6',
  'europe-west8',
  'europe-west9',
  'europe-west10',
  'europe-west12',
  'me-central1',
  'me-central2',
  'me-west1',
  'northamerica-northeast1',
  'northamerica-northeast2',
  'northamerica-south1',
  'southamerica-east1',
  'southamerica-west1',
  'us-central1',
  'us-east1',
  'us-east4',
  'us-east5',
  'us-south1',
  'us-west1',
  'us-west2',
  'us-west3',
  'us-west4',
] as const;
/** A known Google Cloud region such as `us-central1`. */
export type Region = (typeof REGIONS)[number];

/** Artifact Registry multi-regions. */
export const MULTI_REGIONS = ['us', 'europe', 'asia'] as const;
/** `us`, `europe` or `asia`. */
export type MultiRegion = (typeof MULTI_REGIONS)[number];

/**
 * The regions inside each multi-region. Google does not list them for Artifact Registry; this
 * follows the Cloud Storage definition of the same multi-regions: `us` is the United States,
 * `europe` the member states of the European Union (so London and Zurich are outside), `asia` the
 * `asia-*` regions.
 */
export const MULTI_REGION_MEMBERS: Readonly<
  Record<MultiRegion, readonly Region[]>
> = {
  us: REGIONS.filter(r => r.startsWith('us-')),
  europe: [
    'europe-central2',
    'europe-north1',
    'europe-north2',
    'europe-southwest1',
    'europe-west1',
    'europe-west3',
    'europe-west4',
    'europe-west8',
    'europe-west9',
    'europe-west10',
    'europe-west12',
  ],
  asia: REGIONS.filter(r => r.startsWith('asia-')),
};

const REGION_SET: ReadonlySet<string> = new Set(REGIONS);
const MULTI_REGION_SET: ReadonlySet<string> = new Set(MULTI_REGIONS);

/** True for `us`, `europe` and `asia`. */
export function isMultiRegion(location: string): location is MultiRegion {
  return MULTI_REGION_SET.has(location);
}

/** True for a region in {@link REGIONS}. */
export function isKnownRegion(location: string): location is Region {
  return REGION_SET.has(location);
}

/**
 * Whether VMs in `region` run "in" an image stored at `imageLocation`: the same region, or a
 * region inside the image's multi-region.
 */
export function locationContains(
  imageLocation: string,
  region: string,
): boolean {
  if (imageLocation === region) return true;
  if (!isMultiRegion(imageLocation)) return false;
  return (MULTI_REGION_MEMBERS[imageLocation] as readonly string[]).includes(
    region,
  );
}

/** A region that does not exist, with the closest one that does. */
export class UnknownRegionError extends Error {
  constructor(
    message: string,
    readonly input: string,
    readonly suggestion: Region,
  ) {
    super(message);
    this.name = 'UnknownRegionError';
  }
}

// A zone is its region and a one-letter suffix: us-central1-a is in us-central1.
const ZONE = /^(.+)-[a-z]$/;

/**
 * Why `text` is not a region a job can run in, with the closest real region; undefined when it
 * is one. A zone gives its region, another case the lowercase name, a multi-region one of its
 * regions, anything else the region with the fewest edits away.
 */
export function regionProblem(
  text: string,
): {readonly message: string; readonly suggestion: Region} | undefined {
  if (isKnownRegion(text)) return undefined;
  const lower = text.trim().toLowerCase();
  if (isKnownRegion(lower)) {
    return {
      message: `"${text}" is not a region name: region names are lowercase; use ${lower}`,
      suggestion: lower,
    };
  }
  const zoneOf = ZONE.exec(lower)?.[1];
  if (zoneOf !== undefined && isKnownRegion(zoneOf)) {
    return {
      message: `"${text}" is a zone, not a region: Batch jobs name a region; use the zone's region, ${zoneOf}`,
      suggestion: zoneOf,
    };
  }
  if (isMultiRegion(lower)) {
    const member = MULTI_REGION_MEMBERS[lower][0];
    return {
      message: `"${text}" is a multi-region, where Artifact Registry stores images; a job runs in one region: use one of ${lower}'s, such as ${member}`,
      suggestion: member,
    };
  }
  const closest = closestRegion(zoneOf ?? lower);
  return {
    message: `"${text}" is not a Google Cloud region: did you mean ${closest}?`,
    suggestion: closest,
  };
}

/** Throws UnknownRegionError, saying what to write instead, unless `text` is a known region. */
export function assertRegion(text: string): asserts text is Region {
  const problem = regionProblem(text);
  if (problem)
    throw new UnknownRegionError(problem.message, text, problem.suggestion);
}

/** The known region with the fewest single-character edits from `text` (the first on a tie). */
export function closestRegion(text: string): Region {
  let best: Region = REGIONS[0];
  let bestDistance = Infinity;
  for (const region of REGIONS) {
    const d = editDistance(text, region);
    if (d < bestDistance) [best, bestDistance] = [region, d];
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}
