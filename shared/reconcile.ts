/**
 * The sweep: runs still open after a while (their state messages lost or late, or announced
 * never) are brought up to date through the same update path as the state messages.
 */
import {errorMessage} from './errors';
import {finishAndNotify} from './runs/announce';
import {applyJobState, needsNotification, type RunRecord} from './runs/record';
import {syncJob, type CompletionDeps} from './runs/sync';

/** Reconcile settings; defaults: 50 per page, 8 at a time. */
export interface ReconcileOptions {
  /** Runs open longer than this are asked about (`PUSHRUN_RECONCILE_AFTER`). */
  readonly olderThanMs: number;
  readonly batchSize?: number;
  readonly concurrency?: number;
  /** Stops after this many runs in one call (the next call continues). */
  readonly maxRuns?: number;
}

/** What one reconcile pass did. */
export interface ReconcileCounts {
  examined: number;
  changed: number;
  notified: number;
  busy: number;
  missing: number;
  failed: number;
}

/**
 * Finds runs still open after `olderThanMs` (unfinished, or finished but never announced), asks
 * Batch about each and applies the same update path as `recordJobState`. One run's failure is
 * logged and counted, never stops the others.
 */
export async function reconcileRuns(
  deps: CompletionDeps & ReconcileOptions,
): Promise<ReconcileCounts> {
  const now = (deps.now ?? (() => new Date()))();
  const olderThanMs = deps.olderThanMs;
  const batchSize = deps.batchSize ?? 50;
  const maxRuns = deps.maxRuns ?? 10_000;
  const olderThan = new Date(now.getTime() - olderThanMs);
  const counts: ReconcileCounts = {
    examined: 0,
    changed: 0,
    notified: 0,
    busy: 0,
    missing: 0,
    failed: 0,
  };
  let after: RunRecord | undefined;
  while (counts.examined < maxRuns) {
    const page = await deps.store.listOpen({
      olderThan,
      limit: Math.min(batchSize, maxRuns - counts.examined),
      after,
    });
    await forEachLimit(page, deps.concurrency ?? 8, async run => {
      counts.examined++;
      try {
        await reconcileOne(run, deps, counts);
      } catch (e) {
        counts.failed++;
        deps.log.error('reconcile failed for run', {
          jobId: run.id,
          state: run.state,
          error: errorMessage(e),
        });
      }
    });
    if (page.length < batchSize) break;
    after = page[page.length - 1];
  }
  deps.log.info('reconcile finished', {
    ...counts,
    olderThan: olderThan.toISOString(),
  });
  return counts;
}

async function reconcileOne(
  run: RunRecord,
  deps: CompletionDeps,
  counts: ReconcileCounts,
): Promise<void> {
  if (needsNotification(run)) {
    const outcome = await finishAndNotify(run.id, deps);
    if (outcome === 'notified') counts.notified++;
    if (outcome === 'busy') counts.busy++;
    return;
  }
  if (!run.jobName) return;
  const job = await deps.batch.getJob(run.jobName);
  if (!job) {
    // The job was deleted before its end was seen: close the run so it is announced once
    // and stops coming back here, instead of staying open forever.
    counts.missing++;
    const now = (deps.now ?? (() => new Date()))();
    const closed = await deps.store.update(run.id, current =>
      current
        ? applyJobState(current, {state: 'CANCELLED', at: now, finishedAt: now})
        : {record: undefined, changed: false},
    );
    deps.log.warn('open run has no Batch job any more: closed as CANCELLED', {
      jobId: run.id,
      state: closed.record?.state ?? run.state,
      previousState: run.state,
    });
    if (
      closed.changed &&
      (await finishAndNotify(run.id, deps)) === 'notified'
    ) {
      counts.notified++;
    }
    return;
  }
  const synced = await syncJob(job, deps);
  if (synced.changed) counts.changed++;
  if (synced.notified) counts.notified++;
  if (synced.claim === 'busy') counts.busy++;
  deps.log.info('run reconciled', {
    jobId: run.id,
    state: synced.state,
    previousState: run.state,
    changed: synced.changed,
  });
}

async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(
    Array.from({length: Math.min(limit, items.length)}, worker),
  );
}
