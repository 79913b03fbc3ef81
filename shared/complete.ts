/**
 * The completion path: a Batch JOB_STATE_CHANGED message is a hint, `getJob` is the truth,
 * the run record moves forward in a transaction, and a finished run is announced once.
 * Batch notifications: https://cloud.google.com/batch/docs/enable-notifications
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
import {eventData, eventTypeProblem} from './cloud_event';
import {randomUUID} from 'node:crypto';
import {
  BatchJob,
  BatchJobs,
  JobState,
  isJobState,
  isTerminalState,
} from './batch';
import {parseDuration} from './duration';
import {PermanentError, TransientError, errorMessage} from './errors';
import {Logger} from './log';
import {Notifier} from './notify';
import {
  ObservedJobState,
  RunRecord,
  RunState,
  applyJobState,
  consoleUrl,
  needsNotification,
  parseJobName,
} from './runs/record';
import {RunStore} from './runs/store';

/** The label every pushrun job carries (DESIGN.md "Job identity"). */
export const MAPPING_LABEL = 'pushrun-mapping';
const DIGEST_LABEL = 'pushrun-digest';
const STREAMING_LABEL = 'pushrun-streaming';

/** How long a notification claim keeps other deliveries off before they may take over. */
export const NOTIFY_LEASE_MS = 30_000;

/** What the completion path needs. */
export interface CompletionDeps {
  readonly batch: BatchJobs;
  readonly store: RunStore;
  readonly notifier: Notifier;
  readonly log: Logger;
  readonly now?: () => Date;
  /** Overrides NOTIFY_LEASE_MS (tests). */
  readonly notifyLeaseMs?: number;
}

/** A Batch state-change message, reduced to what it hints at. */
export interface JobStateHint {
  /** Full `projects/P/locations/R/jobs/ID`. */
  readonly jobName: string;
  readonly jobId: string;
  readonly jobUid?: string;
  readonly newState?: JobState;
  readonly region?: string;
  readonly eventId: string;
}

/** A decoded message: a hint to act on, or a reason to acknowledge and move on. */
export type JobStateDecision =
  | {readonly kind: 'hint'; readonly hint: JobStateHint}
  | {
      readonly kind: 'ignore';
      readonly reason: string;
      readonly eventId?: string;
    };

/** The parts of an Eventarc `messagePublished` CloudEvent the decoder reads. */
export interface JobStateEvent {
  readonly id?: string;
  readonly type?: string;
  readonly data?: unknown;
}

const JOB_ID = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Turns an Eventarc Pub/Sub CloudEvent from Batch into a hint. `data` may be an object, a JSON
 * string or bytes; only `Type=JOB_STATE_CHANGED` matters. A bare `JobName` is completed with
 * the `Region` attribute and the project from `env`. An unknown `NewJobState` is dropped, not
 * fatal: the hint only says which job to look at.
 */
export function decodeJobStateHint(
  event: unknown,
  env: NodeJS.ProcessEnv = process.env,
): JobStateDecision {
  if (!event || typeof event !== 'object') {
    return {kind: 'ignore', reason: 'event is not an object'};
  }
  const wrongType = eventTypeProblem((event as JobStateEvent).type);
  if (wrongType) return {kind: 'ignore', reason: wrongType};
  const parsed = eventData((event as JobStateEvent).data);
  const data = typeof parsed === 'string' ? undefined : parsed;
  const message = data?.message;
  if (!message || typeof message !== 'object') {
    return {kind: 'ignore', reason: 'event has no data.message'};
  }
  const msg = message as Record<string, unknown>;
  const eventId =
    stringOr((event as JobStateEvent).id) ??
    stringOr(msg.messageId) ??
    stringOr(msg.message_id) ??
    '';
  const ignore = (reason: string): JobStateDecision => ({
    kind: 'ignore',
    reason,
    eventId,
  });
  const attrs = {...bodyAttributes(msg.data), ...stringRecord(msg.attributes)};
  if (attrs.Type !== 'JOB_STATE_CHANGED') {
    return ignore(
      `message type ${JSON.stringify(attrs.Type ?? null)} is not JOB_STATE_CHANGED`,
    );
  }
  const rawName = attrs.JobName;
  if (!rawName) return ignore('message has no JobName attribute');
  let jobName: string;
  let region = attrs.Region || undefined;
  const full = parseJobName(rawName);
  if (full) {
    jobName = rawName;
    region ??= full.region;
  } else {
    if (!JOB_ID.test(rawName))
      return ignore(`JobName ${JSON.stringify(rawName)} is not a job name`);
    const project = env.GOOGLE_CLOUD_PROJECT ?? env.GCLOUD_PROJECT;
    if (!region)
      return ignore(
        `JobName ${rawName} is bare and there is no Region attribute`,
      );
    if (!project)
      return ignore(
        `JobName ${rawName} is bare and GOOGLE_CLOUD_PROJECT is not set`,
      );
    jobName = `projects/${project}/locations/${region}/jobs/${rawName}`;
  }
  const newState = isJobState(attrs.NewJobState)
    ? attrs.NewJobState
    : undefined;
  return {
    kind: 'hint',
    hint: {
      jobName,
      jobId: parseJobName(jobName)!.jobId,
      eventId,
      ...(attrs.JobUID ? {jobUid: attrs.JobUID} : {}),
      ...(newState ? {newState} : {}),
      ...(region ? {region} : {}),
    },
  };
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
  if (!job.labels[MAPPING_LABEL]) {
    return ignored(
      deps,
      ids,
      `job has no ${MAPPING_LABEL} label: not started by pushrun`,
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

/** How `finishAndNotify` ended. */
export type FinishOutcome = 'notified' | 'not-needed' | 'busy' | 'missing';

/**
 * Announces the run `id` if it is over and nobody was told yet (for example a skipped push
 * just stored by the launch path). `busy` means another delivery holds the claim: it will
 * announce, or reconcile will after NOTIFY_LEASE_MS. Throws TransientError if publishing fails.
 */
export async function finishAndNotify(
  id: string,
  deps: CompletionDeps,
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

/** Reconcile settings; defaults: `PUSHRUN_RECONCILE_AFTER` (10m), 50 per page, 8 at a time. */
export interface ReconcileOptions {
  readonly olderThanMs?: number;
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
  env: NodeJS.ProcessEnv = process.env,
): Promise<ReconcileCounts> {
  const now = (deps.now ?? (() => new Date()))();
  const olderThanMs =
    deps.olderThanMs ?? parseDuration(env.PUSHRUN_RECONCILE_AFTER ?? '10m');
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

type ClaimKind = 'claimed' | 'busy' | 'none';

interface SyncResult {
  jobId: string;
  state: RunState;
  previousState?: RunState;
  changed: boolean;
  created: boolean;
  notified: boolean;
  claim: ClaimKind;
}

/** The one update path: apply what Batch says, claim the announcement if due, send it. */
async function syncJob(
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

/** Pure: puts a claim on a run that needs announcing unless a fresh one is already there. */
function claimNotification(
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
async function deliver(
  record: RunRecord,
  token: string,
  deps: CompletionDeps,
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

/**
 * A record for a pushrun job that has none (launched before the record was written, or the
 * record was lost), from what the job itself says. Image and tags are not on the job.
 */
export function recordFromJob(job: BatchJob, now: Date): RunRecord {
  const parts = parseJobName(job.name);
  const digestLabel = job.labels[DIGEST_LABEL];
  return {
    id: jobIdOf(job),
    mapping: job.labels[MAPPING_LABEL],
    image: '',
    digest: digestLabel ? `sha256:${digestLabel}` : '',
    tags: [],
    region: parts?.region ?? '',
    jobName: job.name,
    ...(job.uid ? {jobUid: job.uid} : {}),
    streaming: {
      requested: 'unknown',
      enabled: job.labels[STREAMING_LABEL] === 'true',
      reasons: [],
    },
    state: 'STATE_UNSPECIFIED',
    createdAt: job.createTime ?? now,
    ...(job.createTime ? {launchedAt: job.createTime} : {}),
    history: [],
    ...(parts
      ? {consoleUrl: consoleUrl(parts.project, parts.region, parts.jobId)}
      : {}),
  };
}

function jobIdOf(job: BatchJob): string {
  return parseJobName(job.name)?.jobId ?? job.name.split('/').pop()!;
}

function leaseOf(deps: CompletionDeps): number {
  return deps.notifyLeaseMs ?? NOTIFY_LEASE_MS;
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

/** Batch sends the facts as attributes; a JSON body with the same keys is read as a fallback. */
function bodyAttributes(data: unknown): Record<string, string> {
  if (typeof data !== 'string' || !data) return {};
  try {
    return stringRecord(
      JSON.parse(Buffer.from(data, 'base64').toString('utf8')),
    );
  } catch {
    return {}; // Batch's body is free text
  }
}

function stringRecord(v: unknown): Record<string, string> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).filter(
      ([, x]) => typeof x === 'string',
    ),
  ) as Record<string, string>;
}

function stringOr(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : undefined;
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
