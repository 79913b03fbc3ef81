/**
 * Announcing a finished run once.
 *
 * How "once" is kept. Inside the update transaction, the delivery that sees a finished,
 * unannounced run writes a claim `{token, at}` on it; only the claimant publishes, then sets
 * `notifiedAt` (and drops the claim) in a second transaction. A delivery that finds a fresh
 * claim held by another throws, so Pub/Sub delivers it again later: by then the run is
 * announced (ack), or the claim has expired because its holder died, and this delivery takes
 * over. A failed publish releases the claim and throws. The one gap: an instance that dies
 * after a successful publish but before `notifiedAt` is written leaves a claim that expires
 * and is published again, so the topic is at-least-once in that case; each message carries
 * the `runId` attribute for subscribers to drop such a duplicate. Reconcile also re-announces
 * finished runs that were never announced, so no run ends up unannounced.
 */
import {randomUUID} from 'node:crypto';
import {TransientError, errorMessage} from '../errors';
import type {Logger} from '../log';
import type {Notifier} from '../notify';
import {needsNotification, type RunRecord} from './record';
import type {RunStore} from './store';

/** How long a notification claim keeps other deliveries off before they may take over. */
export const NOTIFY_LEASE_MS = 30_000;

/** What announcing needs. */
export interface AnnounceDeps {
  readonly store: RunStore;
  readonly notifier: Notifier;
  readonly log: Logger;
  readonly now?: () => Date;
  /** Overrides NOTIFY_LEASE_MS (tests). */
  readonly notifyLeaseMs?: number;
}

/** Whether this delivery claimed the announcement, found it claimed by another, or owes none. */
export type ClaimKind = 'claimed' | 'busy' | 'none';

/** How `finishAndNotify` ended. */
export type FinishOutcome = 'notified' | 'not-needed' | 'busy' | 'missing';

/**
 * Announces the run `id` if it is over and nobody was told yet (for example a skipped push
 * just stored by the launch path). `busy` means another delivery holds the claim: it will
 * announce, or reconcile will after NOTIFY_LEASE_MS. Throws TransientError if publishing fails.
 */
export async function finishAndNotify(
  id: string,
  deps: AnnounceDeps,
): Promise<FinishOutcome> {
  const now = (deps.now ?? (() => new Date()))();
  const token = randomUUID();
  const result = await deps.store.update<ClaimKind>(id, current => {
    if (!current) return {record: undefined, changed: false};
    const c = claimNotification(current, now, token, leaseOf(deps));
    return {
      record: c.record,
      changed: c.kind === 'claimed',
      sideEffect: c.kind,
    };
  });
  if (!result.record) return 'missing';
  if (result.sideEffect === 'claimed') {
    await deliver(result.record, token, deps);
    return 'notified';
  }
  return result.sideEffect === 'busy' ? 'busy' : 'not-needed';
}

/** Pure: puts a claim on a run that needs announcing unless a fresh one is already there. */
export function claimNotification(
  record: RunRecord,
  now: Date,
  token: string,
  leaseMs: number,
): {record: RunRecord; kind: ClaimKind} {
  if (!needsNotification(record)) return {record, kind: 'none'};
  const held = record.notifyClaim;
  if (held && now.getTime() - held.at.getTime() < leaseMs)
    return {record, kind: 'busy'};
  return {record: {...record, notifyClaim: {token, at: now}}, kind: 'claimed'};
}

/** Publishes a claimed announcement, then records it; a failed publish gives the claim back. */
export async function deliver(
  record: RunRecord,
  token: string,
  deps: AnnounceDeps,
): Promise<void> {
  const now = () => (deps.now ?? (() => new Date()))();
  try {
    await deps.notifier.notifyRun(record);
  } catch (e) {
    await deps.store
      .update(record.id, cur => releaseClaim(cur, token))
      .catch(err =>
        deps.log.warn('could not release notification claim', {
          jobId: record.id,
          error: errorMessage(err),
        }),
      );
    throw e instanceof TransientError
      ? e
      : new TransientError(
          `notifying run ${record.id} failed: ${errorMessage(e)}`,
          {cause: e},
        );
  }
  await deps.store.update(record.id, cur => {
    if (!cur || cur.notifiedAt || cur.notifyClaim?.token !== token)
      return {record: cur, changed: false};
    return {
      record: {
        ...cur,
        notifiedAt: now(),
        notifyClaim: undefined,
        updatedAt: now(),
      },
      changed: true,
    };
  });
  deps.log.info('run notification sent', {
    jobId: record.id,
    state: record.state,
  });
}

function releaseClaim(cur: RunRecord | undefined, token: string) {
  if (!cur || cur.notifyClaim?.token !== token)
    return {record: cur, changed: false};
  return {record: {...cur, notifyClaim: undefined}, changed: true};
}

export function leaseOf(deps: AnnounceDeps): number {
  return deps.notifyLeaseMs ?? NOTIFY_LEASE_MS;
}
