/**
 * The launch path: one push → the runs its mappings ask for. Matches the mappings, inspects
 * the image once, plans each run (verdict, CreateJob request or skip), creates the Batch jobs,
 * and records every run. Safe to repeat: job ids are derived from the mapping and the digest
 * of the manifest that runs, so every message of one push names the same job.
 */
import {PermanentError, TransientError, errorMessage} from './errors';
import type {ImagePush} from './events';
import {imageName} from './image_ref';
import {inspectImage} from './check';
import {planPush, type PlannedRun} from './plan';
import type {ImageFacts} from './image_facts';
import {RegistryError} from './registry';
import type {ConfigVersion} from './runs/record';

import {
  launchRun,
  type LaunchDeps,
  type LaunchOutcome,
  type Riders,
} from './launch_run';

export type {LaunchDeps, LaunchOutcome} from './launch_run';

/**
 * Launches the runs one push asks for. Returns to acknowledge (including pushes too old, or
 * matching nothing); throws TransientError when a redelivery can succeed. A mapping whose
 * job Batch refuses for good is logged and does not hold back the others.
 */
export async function launchRuns(
  push: ImagePush,
  deps: LaunchDeps,
): Promise<LaunchOutcome[]> {
  const ref = push.digestRef;
  const ids = {
    eventId: push.eventId,
    image: imageName(ref),
    digest: ref.digest,
    ...(push.tag !== undefined && {tag: push.tag}),
  };
  const ageMs = deps.now().getTime() - push.publishedAt.getTime();
  if (ageMs > deps.maxEventAgeMs) {
    deps.log.warn('push too old to act on: acknowledged without a run', {
      ...ids,
      decision: 'expired',
      ageSeconds: Math.round(ageMs / 1000),
    });
    return [];
  }
  // One whole config per event, read once: the live version (or `deps.config` without a source).
  const {config, version: configVersion} = deps.configSource
    ? await deps.configSource.current()
    : {config: deps.config, version: 'bundled' as const};
  if (!config.mappings.some(m => m.matchesImage(ids.image))) {
    deps.log.info('no mapping matches this image', {
      ...ids,
      decision: 'unmatched',
    });
    return [];
  }

  let facts: ImageFacts;
  try {
    facts = await inspectImage(ref, {platform: config.defaults.platform}, deps);
  } catch (err) {
    throw classifyRegistryError(err);
  }
  if (isOtherChild(push, facts)) {
    // Artifact Registry announces each child of a multi-arch index as an untagged push. The
    // child for the jobs' platform and the index both name its job; a child for another
    // platform, or an attestation or other artifact beside it, is no run at all.
    deps.log.info(
      facts.containerImage
        ? 'untagged image for another platform: no run'
        : 'untagged artifact, not a container image: no run',
      {
        ...ids,
        decision: 'unmatched',
        platform: facts.platform ?? null,
      },
    );
    return [];
  }
  const plans = planPush(
    push,
    config,
    facts,
    deps.project,
    deps.jobServiceAccount,
  );
  if (plans.length === 0) {
    deps.log.info('no mapping matches this push (tag filters)', {
      ...ids,
      decision: 'unmatched',
    });
    return [];
  }

  const settled = await Promise.allSettled(
    plans.map(plan => launchOne(push, plan, deps, configVersion)),
  );
  const outcomes: LaunchOutcome[] = [];
  let transient: unknown;
  settled.forEach((s, i) => {
    if (s.status === 'fulfilled') {
      outcomes.push(s.value);
      return;
    }
    const mapping = plans[i].mapping.name;
    const plan = plans[i];
    const jobId = plan.kind === 'launch' ? plan.request.jobId : undefined;
    if (!(s.reason instanceof PermanentError)) transient ??= s.reason;
    deps.log.error(`run not launched: ${errorMessage(s.reason)}`, {
      ...ids,
      mapping,
      ...(jobId && {jobId}),
      decision: s.reason instanceof PermanentError ? 'failed' : 'retry',
    });
    outcomes.push({
      kind: 'failed',
      mapping,
      ...(jobId && {jobId}),
      error: errorMessage(s.reason),
    });
  });
  // Every other mapping is done and idempotent: a redelivery only redoes what failed.
  if (transient !== undefined) {
    throw transient instanceof TransientError
      ? transient
      : new TransientError(errorMessage(transient), {cause: transient});
  }
  return outcomes;
}

/** An untagged single manifest that is not a container image for the jobs' platform. */
function isOtherChild(push: ImagePush, facts: ImageFacts): boolean {
  return (
    push.tag === undefined &&
    facts.availablePlatforms.length === 0 &&
    !(facts.containerImage && facts.platformMatched)
  );
}

/** Registry faults that may pass (5xx, unreachable, auth not yet granted) are retried. */
function classifyRegistryError(err: unknown): Error {
  if (err instanceof RegistryError) {
    const retry = err.transient || err.status === 401 || err.status === 403;
    return retry
      ? new TransientError(err.message, {cause: err})
      : new PermanentError(err.message, {cause: err});
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** One mapping's run; a launch of the same delivery already under way is waited for. */
function launchOne(
  push: ImagePush,
  plan: PlannedRun,
  deps: LaunchDeps,
  configVersion: ConfigVersion,
): Promise<LaunchOutcome> {
  if (plan.kind === 'skip' || !deps.inFlight)
    return launchRun(push, plan, deps, {configVersion});
  const jobId = plan.request.jobId;
  const launches = deps.inFlight;
  // This message is answered by a launch of this instance: logged, and never `launched` twice.
  const handledHere = (o: LaunchOutcome, why: string): LaunchOutcome => {
    deps.log.info(`job exists already: ${why}`, {
      eventId: push.eventId,
      mapping: o.mapping,
      digest: plan.digest,
      jobId,
      decision: 'exists',
    });
    return o.kind === 'launched' ? {...o, kind: 'exists'} : o;
  };
  const key = `${jobId} ${push.tag ?? ''} ${push.digestRef.digest}`;
  // Deliveries of the same message (job, tag and pushed digest) share one launch: concurrent
  // ones wait for it, later ones find it done. A launch that failed is forgotten, so its
  // redelivery tries again.
  const earlier = launches.get(key) as Promise<LaunchOutcome> | undefined;
  if (earlier) {
    return earlier.then(o => handledHere(o, 'this message was handled here'));
  }
  // Another message of the same push (a second tag, the untagged child, the index) names a job
  // this instance has launched: no CreateJob, only what the message adds to the record.
  const jobKey = `job ${jobId}`;
  const sameJob = launches.get(jobKey) as Promise<LaunchOutcome> | undefined;
  const aboard = sameJob && riders.get(sameJob);
  let launch: Promise<LaunchOutcome>;
  if (aboard && !aboard.sealed) {
    // That launch has not written its record yet: it takes this message's tag and index
    // along, so a burst of one push's messages costs one record write, not one each.
    aboard.pushes.push(push);
    launch = sameJob!.then(
      o => {
        // A launch a limit skipped made no job: this message asks the limits again.
        if (o.kind === 'skipped')
          return launchRun(push, plan, deps, {configVersion});
        return handledHere(o, 'its launch recorded this message');
      },
      () => launchRun(push, plan, deps, {configVersion}),
    );
  } else if (sameJob) {
    launch = sameJob.then(
      o =>
        launchRun(push, plan, deps, {
          jobKnown: o.kind !== 'skipped',
          configVersion,
        }),
      () => launchRun(push, plan, deps, {configVersion}),
    );
  } else {
    const aboard: Riders = {pushes: [], sealed: false};
    launch = launchRun(push, plan, deps, {riders: aboard, configVersion});
    riders.set(launch, aboard);
    launches.set(jobKey, launch);
  }
  launches.set(key, launch);
  launch.then(
    () => {
      // Remembered, not kept forever: the oldest launches go first.
      while (launches.size > REMEMBERED_LAUNCHES)
        launches.delete(launches.keys().next().value!);
    },
    () => {
      launches.delete(key);
      if (launches.get(jobKey) === launch) launches.delete(jobKey);
    },
  );
  return launch;
}

/** How many finished launches an instance remembers, to answer a redelivery without work. */
const REMEMBERED_LAUNCHES = 2000;

const riders = new WeakMap<Promise<unknown>, Riders>();
