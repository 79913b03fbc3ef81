/**
 * Syncing a run record with Batch: a JOB_STATE_CHANGED message is a hint, `getJob` is the truth,
 * the record moves forward in a transaction (never back), and a finished run is announced once.
 * Batch notifications: https://cloud.google.com/batch/docs/enable-notifications
 */
import {randomUUID} from 'node:crypto';
import {isTerminalState, type JobState} from '../batch/job_state';
import type {BatchJob, BatchJobs} from '../batch/jobs';
import {PermanentError, TransientError, errorMessage} from '../errors';
import type {JobStateHint} from '../events';
import {
  claimNotification,
  deliver,
  leaseOf,
  type AnnounceDeps,
  type ClaimKind,
} from './announce';
import {JOB_LABELS, isPushrunJob, jobIdOf, recordFromJob} from './job_labels';
import {applyJobState, type ObservedJobState, type RunState} from './record';

/** What the completion path needs: announcing, and Batch to ask. */
export interface CompletionDeps extends AnnounceDeps {
  readonly batch: BatchJobs;
}

/** What happened to one hint. */
export type RecordOutcome =
  | {readonly kind: 'ignored'; readonly reason: string; readonly jobId?: string}
  | {
      readonly kind: 'recorded';
      readonly jobId: string;
      readonly state: RunState;
      readonly changed: boolean;
      readonly created: boolean;
      readonly notified: boolean;
    };

/**
 * Acts on one hint: reads the job from Batch, moves its run record forward (creating it from
 * the job's labels if missing) and announces a finished run once. Throws TransientError when a
 * retry can succeed, including while another delivery holds the notification claim.
 */
export async function recordJobState(
  hint: JobStateHint,
  deps: CompletionDeps,
): Promise<RecordOutcome> {
  const ids = {eventId: hint.eventId, jobId: hint.jobId};
  let job: BatchJob | undefined;
  try {
    job = await deps.batch.getJob(hint.jobName);
  } catch (e) {
    if (e instanceof PermanentError) {
      // No retry fixes this delivery; the record stays open and reconcile asks again later.
      deps.log.error('job state not recorded: Batch refused getJob', {
        ...ids,
        error: errorMessage(e),
      });
      return {kind: 'ignored', reason: errorMessage(e), jobId: hint.jobId};
    }
    throw e;
  }
  if (!job) return ignored(deps, ids, 'job not found in Batch', hint.newState);
  if (!isPushrunJob(job)) {
    return ignored(
      deps,
      ids,
      `job has no ${JOB_LABELS.mapping} label: not started by pushrun`,
      job.state,
    );
  }
  const synced = await syncJob(job, deps);
  if (synced.claim === 'busy') {
    deps.log.info('run notification in progress elsewhere: retry', {
      ...ids,
      state: synced.state,
    });
    throw new TransientError(
      `the notification of run ${synced.jobId} is being sent by another delivery`,
    );
  }
  deps.log.info(
    synced.changed ? 'job state recorded' : 'job state already recorded',
    {
      ...ids,
      state: synced.state,
      previousState: synced.previousState ?? null,
      created: synced.created,
      notified: synced.notified,
    },
  );
  return {
    kind: 'recorded',
    jobId: synced.jobId,
    state: synced.state,
    changed: synced.changed,
    created: synced.created,
    notified: synced.notified,
  };
}

/** What syncing one job did. */
export interface SyncResult {
  jobId: string;
  state: RunState;
  previousState?: RunState;
  changed: boolean;
  created: boolean;
  notified: boolean;
  claim: ClaimKind;
}

/** The one update path: apply what Batch says, claim the announcement if due, send it. */
export async function syncJob(
  job: BatchJob,
  deps: CompletionDeps,
): Promise<SyncResult> {
  const now = (deps.now ?? (() => new Date()))();
  const jobId = jobIdOf(job);
  const observed = observationOf(job, now);
  const token = randomUUID();
  // Most deliveries are duplicates or late: a plain read settles them without a transaction
  // (and without contending with the delivery that does write). A stale snapshot is safe here:
  // records only move forward, so "nothing to do" on an old copy holds for the current one.
  const snapshot = await deps.store.get(jobId);
  if (snapshot) {
    const applied = applyJobState(snapshot, observed);
    const c = claimNotification(snapshot, now, token, leaseOf(deps));
    if (!applied.changed && c.kind !== 'claimed') {
      return {
        jobId,
        state: snapshot.state,
        previousState: snapshot.state,
        changed: false,
        created: false,
        notified: false,
        claim: c.kind,
      };
    }
  }
  const result = await deps.store.update<{
    created: boolean;
    claim: ClaimKind;
    previous?: RunState;
  }>(jobId, current => {
    const base = current ?? recordFromJob(job, now);
    const applied = applyJobState(base, observed);
    const c = claimNotification(applied.record, now, token, leaseOf(deps));
    const changed = !current || applied.changed || c.kind === 'claimed';
    return {
      record: changed ? {...c.record, updatedAt: now} : c.record,
      changed,
      sideEffect: {created: !current, claim: c.kind, previous: current?.state},
    };
  });
  const record = result.record!;
  const effect = result.sideEffect!;
  let notified = false;
  if (effect.claim === 'claimed') {
    await deliver(record, token, deps);
    notified = true;
  }
  return {
    jobId,
    state: record.state,
    previousState: effect.previous,
    changed: result.changed,
    created: effect.created,
    notified,
    claim: effect.claim,
  };
}

/** What one `getJob` answer says about the run, in the shape `applyJobState` takes. */
export function observationOf(job: BatchJob, now: Date): ObservedJobState {
  const timeOf = (pick: (s: JobState) => boolean) =>
    job.statusEvents.find(e => e.newState && pick(e.newState) && e.eventTime)
      ?.eventTime;
  const at = timeOf(s => s === job.state) ?? job.updateTime ?? now;
  const terminal = isTerminalState(job.state);
  return {
    state: job.state,
    at,
    jobUid: job.uid || undefined,
    startedAt: timeOf(s => s === 'RUNNING'),
    finishedAt: terminal ? at : undefined,
    durationSeconds: terminal ? job.runDurationSeconds : undefined,
    taskCounts: job.taskCounts,
  };
}

function ignored(
  deps: CompletionDeps,
  ids: {eventId: string; jobId: string},
  reason: string,
  state?: JobState,
): RecordOutcome {
  deps.log.info(`job state ignored: ${reason}`, {...ids, state: state ?? null});
  return {kind: 'ignored', reason, jobId: ids.jobId};
}
