/**
 * Plans what one push does: which mappings match, the streaming verdict for each mapping's job,
 * and the CreateJob request, or why the run is skipped. The launch function and `pushrun plan`
 * both call `planPush`, so what the CLI shows is what a push does.
 */
import type {Mapping, PushrunConfig} from './config/types';
import {isMultiRegion} from './locations';
import {containerRunnables} from './containers';
import {buildCreateJobRequest, type CreateJobRequest} from './job_builder';
import type {ImageRef} from './image_ref';
import type {SkipCode} from './runs/record';
import {matchMappings} from './matching';
import {streamingVerdict, type ReasonCode, type Verdict} from './verdict';
import {type ImageFacts} from './image_facts';

/** The push as planning needs it (an `ImagePush` fits). */
export interface PushToPlan {
  /** The pushed image, pinned by digest. */
  readonly digestRef: ImageRef;
  /** The bare tag; absent for an untagged push. */
  readonly tag?: string;
}

/** What one matching mapping does with the push: a request to send, or a skip with its reason. */
interface PlannedRunBase {
  readonly mapping: Mapping;
  /**
   * The digest of the manifest the job runs: the platform's child of an index, else the pushed
   * digest (also when no platform matched). Job id and run record are named after it.
   */
  readonly digest: string;
  readonly verdict: Verdict;
}

/** A run the push launches: where, and the exact CreateJob request. */
export interface LaunchPlan extends PlannedRunBase {
  readonly kind: 'launch';
  readonly region: string;
  readonly request: CreateJobRequest;
}

/** A run the push skips, and why; the region is absent when none could be decided. */
export interface SkipPlan extends PlannedRunBase {
  readonly kind: 'skip';
  readonly region?: string;
  readonly skip: {readonly code: SkipCode; readonly reason: string};
}

/** What one matching mapping does with a push. */
export type PlannedRun = LaunchPlan | SkipPlan;

// Verdict reasons that mean the job could not run the image at all, whatever the policy.
const UNRUNNABLE: readonly ReasonCode[] = [
  'NOT_A_CONTAINER_IMAGE',
  'NO_MATCHING_PLATFORM',
];

/**
 * The job's region: the mapping's `region`, else the image's Artifact Registry region (not a
 * multi-region), else `defaults.region`.
 */
export function jobRegion(
  mapping: Mapping,
  config: Pick<PushrunConfig, 'defaults'>,
  ref: ImageRef,
): string | undefined {
  if (mapping.region) return mapping.region;
  if (
    ref.kind === 'artifact-registry' &&
    ref.location &&
    !isMultiRegion(ref.location)
  ) {
    return ref.location;
  }
  return config.defaults.region;
}

/**
 * One planned run per matching mapping, in config order. A run is skipped when its region
 * cannot be decided, when the image cannot run at all (not a container image, or no image for
 * the platform), or when streaming is `required` and the verdict says no.
 */
export function planPush(
  push: PushToPlan,
  config: PushrunConfig,
  facts: ImageFacts,
  project: string,
  serviceAccount?: string,
): PlannedRun[] {
  const ref = push.digestRef;
  const runDigest =
    (facts.platformMatched && facts.platformDigest) || ref.digest!;
  return matchMappings(config, {
    ref,
    ...(push.tag !== undefined && {tag: push.tag}),
  }).map((mapping): PlannedRun => {
    const region = jobRegion(mapping, config, ref);
    const verdict = streamingVerdict(facts, {
      ...(region !== undefined && {region}),
      containers: containerRunnables(mapping.job),
    });
    const skip = (code: SkipCode, reason: string): SkipPlan => ({
      kind: 'skip',
      mapping,
      digest: runDigest,
      ...(region !== undefined && {region}),
      verdict,
      skip: {code, reason},
    });
    if (region === undefined) {
      const where =
        ref.kind === 'artifact-registry'
          ? `the image is in the multi-region "${ref.location}"`
          : 'the image is not in Artifact Registry';
      return skip(
        'NO_REGION',
        `no region for the job: ${where}; set region on mapping "${mapping.name}"`,
      );
    }
    const unrunnable = verdict.reasons.find(r => UNRUNNABLE.includes(r.code));
    if (unrunnable)
      return skip(
        'UNRUNNABLE_IMAGE',
        `${unrunnable.code}: ${unrunnable.message}`,
      );
    if (mapping.streaming === 'required' && !verdict.streamable) {
      const why = verdict.reasons
        .map(r => `${r.code}: ${r.message}`)
        .join('; ');
      return skip(
        'STREAMING_REQUIRED',
        `streaming is required but the image cannot be streamed: ${why}`,
      );
    }
    const request = buildCreateJobRequest({
      mapping,
      config,
      ref,
      ...(runDigest !== ref.digest && {runDigest}),
      ...(push.tag !== undefined && {tag: push.tag}),
      verdict,
      project,
      region,
      ...(serviceAccount && {serviceAccount}),
    });
    return {
      kind: 'launch',
      mapping,
      digest: runDigest,
      region,
      verdict,
      request,
    };
  });
}
