/**
 * The run record (DESIGN.md "Run record" contract) and the pure rules that move it forward.
 * Batch state messages arrive late, twice, or not at all, so every update goes through
 * `applyJobState`, which never moves a run backwards.
 */
import {
  JOB_STATES,
  JobState,
  isJobState,
  isTerminalState,
} from '../batch/job_state';

/** A run's state: a Batch job state, or SKIPPED for a push that started no job. */
export const RUN_STATES = [...JOB_STATES, 'SKIPPED'] as const;
/** A run state. */
export type RunState = (typeof RUN_STATES)[number];

/** Whether `x` names a run state. */
export function isRunState(x: unknown): x is RunState {
  return x === 'SKIPPED' || isJobState(x);
}

/** Whether a run in state `s` is over: a terminal Batch state or SKIPPED. */
export function isFinalRunState(s: RunState): boolean {
  return s === 'SKIPPED' || isTerminalState(s);
}

/** How many state changes a record keeps. */
export const HISTORY_LIMIT = 20;

/** One streaming verdict reason (codes per DESIGN.md). */
export interface StreamingReason {
  readonly code: string;
  readonly message: string;
}

/** What streaming was asked for and whether the job got it, with the reasons why not. */
export interface RunStreaming {
  /** The mapping's `streaming` setting: `auto`, `required` or `off`. */
  readonly requested: string;
  readonly enabled: boolean;
  readonly reasons: readonly StreamingReason[];
}

/** One entry of a record's state history. */
export interface StateChange {
  readonly state: RunState;
  readonly at: Date;
}

/** A notification being sent: who claimed it and when (see shared/complete.ts). */
export interface NotifyClaim {
  readonly token: string;
  readonly at: Date;
}

/** Why a push started no job (DESIGN.md "Guardrails and proof"). */
export const SKIP_CODES = [
  'NO_REGION',
  'UNRUNNABLE_IMAGE',
  'STREAMING_REQUIRED',
  'RATE_LIMITED',
  'CONCURRENCY_LIMITED',
] as const;
/** A skip code. */
export type SkipCode = (typeof SKIP_CODES)[number];

/** Whether `x` names a skip code. */
export function isSkipCode(x: unknown): x is SkipCode {
  return (SKIP_CODES as readonly unknown[]).includes(x);
}

/** The live config version that launched a run, or `bundled` for the file deployed with it. */
export type ConfigVersion = number | 'bundled';

/** One run: a Batch job started for a push, or a skipped push. Document id = `id`. */
export interface RunRecord {
  /** The Batch job id, or `skip-<mapping>-<digest12>` for a skipped push. */
  readonly id: string;
  readonly mapping: string;
  /** The image without tag or digest, e.g. `us-central1-docker.pkg.dev/p/r/img`. */
  readonly image: string;
  /** `sha256:<hex>` of the manifest that runs: for a multi-arch push, the platform's child. */
  readonly digest: string;
  /** The multi-arch index the running manifest was pushed in, once its message was seen. */
  readonly indexDigest?: string;
  /** Every tag the push's messages carried. */
  readonly tags: readonly string[];
  readonly region: string;
  /** `projects/P/locations/R/jobs/ID`; absent for a skipped push. */
  readonly jobName?: string;
  readonly jobUid?: string;
  readonly streaming: RunStreaming;
  readonly state: RunState;
  /** Why a push was skipped (state SKIPPED): the verdict or the config, in one sentence. */
  readonly skipReason?: string;
  /** The kind of skip, for a skipped push. */
  readonly skipCode?: SkipCode;
  /** The jobId of the newer run that cancelled this one (`supersede`). */
  readonly supersededBy?: string;
  /** The config version that launched (or skipped) the run. */
  readonly configVersion?: ConfigVersion;
  /** When the record was first written; lists sort on it. */
  readonly createdAt: Date;
  readonly updatedAt?: Date;
  readonly pushedAt?: Date;
  readonly launchedAt?: Date;
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
  readonly durationSeconds?: number;
  readonly taskCounts?: Readonly<Record<string, number>>;
  readonly notifiedAt?: Date;
  readonly notifyClaim?: NotifyClaim;
  /** The last HISTORY_LIMIT state changes, oldest first. */
  readonly history: readonly StateChange[];
  readonly consoleUrl?: string;
}

/** What one look at the Batch job showed. */
export interface ObservedJobState {
  readonly state: JobState;
  readonly at: Date;
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
  readonly durationSeconds?: number;
  readonly taskCounts?: Readonly<Record<string, number>>;
  readonly jobUid?: string;
}

// A run only moves up this ladder. The *_IN_PROGRESS states sit above RUNNING (the job is
// being torn down) and below the terminal states, which are final.
const RANK: Record<RunState, number> = {
  STATE_UNSPECIFIED: 0,
  QUEUED: 1,
  SCHEDULED: 2,
  RUNNING: 3,
  DELETION_IN_PROGRESS: 4,
  CANCELLATION_IN_PROGRESS: 4,
  SUCCEEDED: 5,
  FAILED: 5,
  CANCELLED: 5,
  SKIPPED: 5,
};

/** The order of a state on the monotonic ladder (higher = later). */
export function stateRank(s: RunState): number {
  return RANK[s];
}

/**
 * Applies an observed Batch state to a record without ever moving it backwards: a lower or
 * equal-rank state never replaces the current one, and a final state is never replaced.
 * Facts that are missing (jobUid, startedAt, ...) are filled in whatever the state.
 */
export function applyJobState(
  record: RunRecord,
  observed: ObservedJobState,
): {record: RunRecord; changed: boolean} {
  const advance =
    !isFinalRunState(record.state) &&
    stateRank(observed.state) > stateRank(record.state);
  const next: {-readonly [K in keyof RunRecord]: RunRecord[K]} = {...record};
  let changed = false;
  const fill = <K extends 'jobUid' | 'startedAt' | 'finishedAt'>(
    key: K,
    value: RunRecord[K] | undefined,
  ) => {
    if (value !== undefined && next[key] === undefined) {
      next[key] = value;
      changed = true;
    }
  };
  fill('jobUid', observed.jobUid);
  fill('startedAt', observed.startedAt);
  if (advance) {
    next.state = observed.state;
    next.history = [
      ...record.history,
      {state: observed.state, at: observed.at},
    ].slice(-HISTORY_LIMIT);
    changed = true;
  }
  // Counts and end times belong to the state the record now holds: a late RUNNING
  // observation must not overwrite the counts of a finished run.
  if (advance || observed.state === next.state) {
    if (
      observed.taskCounts &&
      !sameCounts(observed.taskCounts, record.taskCounts)
    ) {
      next.taskCounts = {...observed.taskCounts};
      changed = true;
    }
    if (isTerminalState(observed.state)) {
      fill('finishedAt', observed.finishedAt ?? observed.at);
      const duration =
        observed.durationSeconds ??
        secondsBetween(next.startedAt, next.finishedAt);
      if (duration !== undefined && next.durationSeconds === undefined) {
        next.durationSeconds = duration;
        changed = true;
      }
    }
  }
  return {record: changed ? next : record, changed};
}

/** Whether a run is over and nobody has been told yet. */
export function needsNotification(record: RunRecord): boolean {
  return isFinalRunState(record.state) && record.notifiedAt === undefined;
}

/** The Cloud Console page of a Batch job. */
export function consoleUrl(
  project: string,
  region: string,
  jobId: string,
): string {
  return (
    `https://console.cloud.google.com/batch/jobsDetail/regions/${encodeURIComponent(region)}` +
    `/jobs/${encodeURIComponent(jobId)}/details?project=${encodeURIComponent(project)}`
  );
}

/** The parts of a full Batch job name `projects/P/locations/R/jobs/ID`, if it is one. */
export function parseJobName(
  name: string,
): {project: string; region: string; jobId: string} | undefined {
  const m = /^projects\/([^/]+)\/locations\/([^/]+)\/jobs\/([^/]+)$/.exec(name);
  return m ? {project: m[1], region: m[2], jobId: m[3]} : undefined;
}

/** The console link of a record's job; undefined for a skipped push. */
export function recordConsoleUrl(record: RunRecord): string | undefined {
  const parts = record.jobName ? parseJobName(record.jobName) : undefined;
  return parts
    ? consoleUrl(parts.project, parts.region, parts.jobId)
    : undefined;
}

/** The record id of a skipped push: `skip-<mapping>-<digest12>`. */
export function skipRecordId(mapping: string, digest: string): string {
  return `skip-${mapping}-${shortDigest(digest)}`;
}

/** The first 12 hex digits of a `sha256:<hex>` digest (or of bare hex). */
export function shortDigest(digest: string): string {
  return digest.replace(/^[a-z0-9]+:/, '').slice(0, 12);
}

/** Seconds from `a` to `b`; undefined when either is missing or `b` comes first. */
export function secondsBetween(a?: Date, b?: Date): number | undefined {
  if (!a || !b) return undefined;
  const s = (b.getTime() - a.getTime()) / 1000;
  return s >= 0 ? s : undefined;
}

function sameCounts(
  a: Readonly<Record<string, number>>,
  b: Readonly<Record<string, number>> | undefined,
): boolean {
  if (!b) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every(k => a[k] === b[k]);
}
