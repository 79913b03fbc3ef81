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
