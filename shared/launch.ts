/**
 * The launch path: one push → the runs its mappings ask for. Matches the mappings, inspects
 * the image once, plans each run (verdict, CreateJob request or skip), creates the Batch jobs,
 * and records every run. Safe to repeat: job ids are derived from the mapping and the digest
 * of the manifest that runs, so every message of one push names the same job.
 */
import {finishAndNotify} from './runs/announce';
import {PermanentError, TransientError, errorMessage} from './errors';
import type {ImagePush} from './events';
import {imageName} from './image_ref';
import {inspectImage} from './check';
import {limitedPlan, releaseLaunch, reserveLaunch} from './limits';
import {planPush, type PlannedRun, type SkipPlan} from './plan';
import type {ImageFacts} from './image_facts';
import type {CreateJobOutcome} from './batch/jobs';
import {RegistryError} from './registry';
import {
  digests,
  jobStreams,
  launchedRecord,
  mergeRecord,
  skippedRecord,
} from './runs/launch_record';
import type {ConfigVersion} from './runs/record';
import type {Deps} from './deps';
import {supersedeOlderRuns} from './supersede';

/** What the launch path needs; `Deps` from shared/deps.ts fits. */
export type LaunchDeps = Pick<
  Deps,
  | 'config'
  | 'project'
  | 'jobServiceAccount'
  | 'log'
  | 'maxEventAgeMs'
  | 'registry'
  | 'batch'
  | 'store'
  | 'notifier'
  | 'now'
> &
  Partial<Pick<Deps, 'inFlight' | 'configSource'>>;

/** How one mapping's run went. */
export type LaunchOutcome =
  | {kind: 'launched'; mapping: string; jobId: string; streaming: boolean}
  | {kind: 'exists'; mapping: string; jobId: string; streaming: boolean}
  | {kind: 'skipped'; mapping: string; reason: string}
  | {kind: 'failed'; mapping: string; jobId?: string; error: string};

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
    return launchOneNow(push, plan, deps, {configVersion});
  const jobId = plan.request.jobId;
  const launches = deps.inFlight;
  const key = `${jobId} ${push.tag ?? ''} ${push.digestRef.digest}`;
  // Deliveries of the same message (job, tag and pushed digest) share one launch: concurrent
  // ones wait for it, later ones find it done. A launch that failed is forgotten, so its
  // redelivery tries again.
  const earlier = launches.get(key) as Promise<LaunchOutcome> | undefined;
  if (earlier) {
    return earlier.then(o => {
      deps.log.info('job exists already: this message was handled here', {
        eventId: push.eventId,
        mapping: o.mapping,
        digest: plan.digest,
        jobId,
        decision: 'exists',
      });
      return o.kind === 'launched' ? {...o, kind: 'exists'} : o;
    });
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
          return launchOneNow(push, plan, deps, {configVersion});
        deps.log.info('job exists already: its launch recorded this message', {
          eventId: push.eventId,
          mapping: o.mapping,
          digest: plan.digest,
          jobId,
          decision: 'exists',
        });
        return o.kind === 'launched' ? {...o, kind: 'exists'} : o;
      },
      () => launchOneNow(push, plan, deps, {configVersion}),
    );
  } else if (sameJob) {
    launch = sameJob.then(
      o =>
        launchOneNow(push, plan, deps, {
          jobKnown: o.kind !== 'skipped',
          configVersion,
        }),
      () => launchOneNow(push, plan, deps, {configVersion}),
    );
  } else {
    const aboard: Riders = {pushes: [], sealed: false};
    launch = launchOneNow(push, plan, deps, {riders: aboard, configVersion});
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

/** Other messages of a push that a launch under way records with its own, until it writes. */
interface Riders {
  readonly pushes: ImagePush[];
  /** Set when the launch builds its record: later messages write for themselves. */
  sealed: boolean;
}
const riders = new WeakMap<Promise<unknown>, Riders>();

async function launchOneNow(
  push: ImagePush,
  plan: PlannedRun,
  deps: LaunchDeps,
  opts: {jobKnown?: boolean; riders?: Riders; configVersion: ConfigVersion},
): Promise<LaunchOutcome> {
  const mapping = plan.mapping.name;
  const ids = {
    eventId: push.eventId,
    image: imageName(push.digestRef),
    ...digests(push, plan),
    ...(push.tag !== undefined && {tag: push.tag}),
    mapping,
  };
  const reasons = plan.verdict.reasons.map(r => r.code);
  const skipRun = async (skip: SkipPlan): Promise<LaunchOutcome> => {
    const {code, reason} = skip.skip;
    const record = skippedRecord(push, skip, deps.now(), opts.configVersion);
    await deps.store.update(record.id, current => mergeRecord(current, record));
    await finishAndNotify(record.id, deps);
    deps.log.info(`run skipped: ${reason}`, {
      ...ids,
      runId: record.id,
      decision: 'skipped',
      skipCode: code,
      reasons,
    });
    return {kind: 'skipped', mapping, reason};
  };
  if (plan.kind === 'skip') return skipRun(plan);

  const {request} = plan;
  const streaming = jobStreams(request.job);
  // A job this instance launched for another message of the push was reserved then.
  const reservation = opts.jobKnown
    ? undefined
    : await reserveLaunch(plan, deps);
  if (reservation?.kind === 'over')
    return skipRun(limitedPlan(plan, reservation.over));
  const outcome: CreateJobOutcome = opts.jobKnown
    ? {created: false, alreadyExists: true}
    : await deps.batch.createJob(request).catch(async (e: unknown) => {
        // Refused for good: the launch never happens, so it counts for nothing.
        if (e instanceof PermanentError) await releaseLaunch(plan, deps);
        throw e;
      });
  const facts = {
    project: deps.project,
    now: deps.now(),
    streaming,
    ...(outcome.created && {jobUid: outcome.job.uid}),
    configVersion: opts.configVersion,
  };
  let record = launchedRecord(push, plan, facts);
  if (opts.riders) {
    opts.riders.sealed = true;
    for (const p of opts.riders.pushes)
      record =
        mergeRecord(record, launchedRecord(p, plan, facts)).record ?? record;
  }
  // One create() writes the record of a new launch; a record already there (another message
  // of the push, or one the recorder rebuilt from the job) is merged under a precondition.
  // A message that names no tag and no index adds nothing to the record of a known job.
  const addsNothing =
    opts.jobKnown &&
    push.tag === undefined &&
    push.digestRef.digest === plan.digest;
  const merge = async () =>
    (
      await deps.store.patch(record.id, current => ({
        ...mergeRecord(current, record),
        sideEffect: current?.launchedAt !== undefined,
      }))
    ).sideEffect === true;
  const handledBefore = opts.jobKnown
    ? addsNothing || (await merge())
    : !(await deps.store.create(record)) && (await merge());
  // With the same requestId, Batch may answer a repeated create with the job it made before:
  // a launch already on record means this push was handled, whatever the answer says.
  const kind = outcome.created && !handledBefore ? 'launched' : 'exists';
  deps.log.info(
    kind === 'launched'
      ? `job created${streaming ? ' with image streaming' : ' without image streaming'}`
      : 'job exists already: this push was handled before',
    {
      ...ids,
      jobId: request.jobId,
      jobName: `${request.parent}/jobs/${request.jobId}`,
      region: plan.region,
      decision: kind,
      streaming,
      reasons,
    },
  );
  // A redelivery comes here too (its job exists), to finish what a failed cancel left; a job
  // this instance launched for an earlier message of the push has superseded already.
  if (!opts.jobKnown)
    await supersedeOlderRuns(request.jobId, plan.mapping.supersede, deps);
  return {kind, mapping, jobId: request.jobId, streaming};
}
