/**
 * Superseding (DESIGN.md "Guardrails and proof"): when a push launches a run, this mapping's
 * older runs of the same image name are cancelled if Batch says they are still QUEUED or
 * SCHEDULED (`queued`), or also RUNNING (`running`). The run records say which runs are older
 * and open; GetJob says what state each is in.
 *
 * How a cancel stays right when deliveries repeat or fail. The older record gets
 * `supersededBy` in a transaction before CancelJob is sent, so the CANCELLED state message
 * (which may come at once) already finds it and announces `run.superseded`. A cancel Batch
 * refuses because the job has ended gives the mark back; a failed CancelJob keeps it and throws,
 * and the redelivered push, whose job exists already, comes back here and cancels again. Only
 * runs created before the new one count as older, so a redelivery, or a later message of an
 * old push, never cancels a newer run.
 */
import type {JobState} from './batch/job_state';
import type {BatchJob, CancelJobOutcome} from './batch/jobs';
import type {SupersedePolicy} from './config/types';
import type {Deps} from './deps';
import {PermanentError, TransientError, errorMessage} from './errors';
import {isFinalRunState, type RunRecord} from './runs/record';
import type {RunMutation} from './runs/store';

/** What superseding needs. */
export type SupersedeDeps = Pick<Deps, 'batch' | 'store' | 'log' | 'now'>;

/** The Batch states each policy cancels a run in. */
const CANCELS: Record<SupersedePolicy, readonly JobState[]> = {
  none: [],
  queued: ['QUEUED', 'SCHEDULED'],
  running: ['QUEUED', 'SCHEDULED', 'RUNNING'],
};

/** The states of a job whose cancel Batch has taken. */
const CANCELLING: readonly JobState[] = [
  'CANCELLATION_IN_PROGRESS',
  'CANCELLED',
];

/** How many open runs of one mapping and image are looked at; more are left to the next push. */
const OPEN_RUNS_SCANNED = 100;

/** Whether `policy` cancels a run Batch has in `state`. */
export function policyCancels(
  policy: SupersedePolicy,
  state: JobState,
): boolean {
  return CANCELS[policy].includes(state);
}

/** The run that supersedes: its id, and what makes a run older than it. */
export type SupersedingRun = Pick<
  RunRecord,
  'id' | 'mapping' | 'image' | 'createdAt'
>;

/** An older run and what Batch says of its job. */
export interface OlderRun {
  readonly record: RunRecord;
  readonly job: BatchJob;
}

/**
 * This mapping's runs of the same image that were created before `run` and are not over by
 * their records, each with its job as Batch has it now (runs whose job Batch does not know
 * are left out). Newest first.
 */
export async function olderOpenRuns(
  run: SupersedingRun,
  deps: Pick<SupersedeDeps, 'batch' | 'store'>,
): Promise<OlderRun[]> {
  const open = await deps.store.list({
    mapping: run.mapping,
    image: run.image,
    open: true,
    limit: OPEN_RUNS_SCANNED,
  });
  const older = open.filter(
    r =>
      r.id !== run.id &&
      r.jobName !== undefined &&
      r.createdAt.getTime() < run.createdAt.getTime() &&
      !isFinalRunState(r.state),
  );
  const jobs = await Promise.all(older.map(r => deps.batch.getJob(r.jobName!)));
  return older.flatMap((record, i) => {
    const job = jobs[i];
    return job ? [{record, job}] : [];
  });
}

/** What superseding did to one older run. */
export interface SupersededRun {
  readonly jobId: string;
  /** The state Batch had the job in when it was cancelled. */
  readonly state: JobState;
}

/**
 * Cancels the older runs `policy` allows for the run `jobId` just launched (or found launched
 * by an earlier delivery). Resolves to the runs it cancelled; throws TransientError when a
 * GetJob or CancelJob may succeed on redelivery.
 */
export async function supersedeOlderRuns(
  jobId: string,
  policy: SupersedePolicy,
  deps: SupersedeDeps,
): Promise<SupersededRun[]> {
  if (policy === 'none') return [];
  const run = await deps.store.get(jobId);
  // A run that a newer one has superseded itself cancels nothing.
  if (!run || run.supersededBy !== undefined) return [];
  try {
    const older = await olderOpenRuns(run, deps);
    const done = await Promise.all(
      older.map(o => supersedeOne(o, jobId, policy, deps)),
    );
    return done.filter((d): d is SupersededRun => d !== undefined);
  } catch (e) {
    throw new TransientError(
      `job ${jobId} is launched, but superseding its older runs failed (retried on redelivery): ${errorMessage(e)}`,
      {cause: e},
    );
  }
}

async function supersedeOne(
  {record, job}: OlderRun,
  by: string,
  policy: SupersedePolicy,
  deps: SupersedeDeps,
): Promise<SupersededRun | undefined> {
  const ours = record.supersededBy === by;
  if (record.supersededBy !== undefined && !ours) return undefined;
  const ids = {jobId: record.id, supersededBy: by, mapping: record.mapping};
  if (!policyCancels(policy, job.state)) {
    // An earlier delivery marked it: done if Batch took that cancel, else the mark goes.
    if (ours && CANCELLING.includes(job.state))
      return {jobId: record.id, state: job.state};
    if (ours) await mark(record.id, by, false, deps);
    return undefined;
  }
  if (!(await mark(record.id, by, true, deps))) return undefined;
  let outcome: CancelJobOutcome;
  try {
    outcome = await deps.batch.cancelJob(job.name);
  } catch (e) {
    // The mark stays for the redelivery to finish; a refusal for good gives it back.
    if (!(e instanceof PermanentError)) throw e;
    await mark(record.id, by, false, deps);
    deps.log.error(`older run not superseded: ${errorMessage(e)}`, {
      ...ids,
      decision: 'failed',
    });
    return undefined;
  }
  if (outcome !== 'cancelling') {
    // The job ended (or went) between GetJob and CancelJob: nothing was superseded.
    await mark(record.id, by, false, deps);
    deps.log.info('older run not superseded: it ended first', {
      ...ids,
      decision: 'kept',
      outcome,
    });
    return undefined;
  }
  deps.log.info(`older run superseded: cancelled while ${job.state}`, {
    ...ids,
    state: job.state,
    decision: 'superseded',
  });
  return {jobId: record.id, state: job.state};
}

/**
 * Sets (`on`) or takes back the mark `supersededBy: by` on run `id`, in a transaction; a run
 * that has ended, or that another run marked, is left as it is. Resolves to whether it holds.
 */
async function mark(
  id: string,
  by: string,
  on: boolean,
  deps: SupersedeDeps,
): Promise<boolean> {
  const now = deps.now();
  const result = await deps.store.update<boolean>(
    id,
    (current): RunMutation<boolean> => {
      const unchanged = (holds: boolean) => ({
        record: current,
        changed: false,
        sideEffect: holds,
      });
      if (!current) return unchanged(false);
      const mine = current.supersededBy === by;
      if (!on) {
        if (!mine) return unchanged(false);
        const {supersededBy: _by, ...rest} = current;
        void _by;
        return {record: {...rest, updatedAt: now}, changed: true};
      }
      if (mine) return unchanged(true);
      if (current.supersededBy !== undefined || isFinalRunState(current.state))
        return unchanged(false);
      return {
        record: {...current, supersededBy: by, updatedAt: now},
        changed: true,
        sideEffect: true,
      };
    },
  );
  return result.sideEffect === true;
}
