/**
 * One mapping's run for one message of a push: skip it with its record, or reserve it under the
 * mapping's limits, create the Batch job, write or merge its run record, and supersede older
 * runs.
 */
import {finishAndNotify} from './runs/announce';
import {PermanentError} from './errors';
import type {ImagePush} from './events';
import {imageName} from './image_ref';
import {limitedPlan, releaseLaunch, reserveLaunch} from './limits';
import type {PlannedRun, SkipPlan} from './plan';
import type {CreateJobOutcome} from './batch/jobs';
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

/** Other messages of a push that a launch under way records with its own, until it writes. */
export interface Riders {
  readonly pushes: ImagePush[];
  /** Set when the launch builds its record: later messages write for themselves. */
  sealed: boolean;
}
/**
 * Launches one mapping's run for one message: the skip record, or the limits' reservation,
 * CreateJob, the run record and superseding. `jobKnown`: this instance launched the job for
 * another message of the push, so only what this message adds is written.
 */
export async function launchRun(
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
  const namesNoIndex = push.digestRef.digest === plan.digest;
  const addsNothing = opts.jobKnown && push.tag === undefined && namesNoIndex;
  const merge = async () =>
    (
      await deps.store.patch(record.id, current => ({
        ...mergeRecord(current, record),
        sideEffect: current?.launchedAt !== undefined,
      }))
    ).sideEffect === true;
  // A second tag of a job this instance recorded is one write that needs no read.
  const addsTagOnly = opts.jobKnown && push.tag !== undefined && namesNoIndex;
  const handledBefore = opts.jobKnown
    ? addsNothing ||
      (addsTagOnly && (await deps.store.addTag(record.id, push.tag!))) ||
      (await merge())
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
