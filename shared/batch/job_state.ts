/**
 * Batch job states and how they read on the wire. Pure: it imports no client, so every module
 * that names a state stays light.
 * https://cloud.google.com/batch/docs/reference/rest/v1/projects.locations.jobs#State
 */

/** Batch job states, in `google.cloud.batch.v1.JobStatus.State` enum order. */
export const JOB_STATES = [
  'STATE_UNSPECIFIED',
  'QUEUED',
  'SCHEDULED',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'DELETION_IN_PROGRESS',
  'CANCELLATION_IN_PROGRESS',
  'CANCELLED',
] as const;
/** A Batch job state. */
export type JobState = (typeof JOB_STATES)[number];

/** Whether `x` names a Batch job state. */
export function isJobState(x: unknown): x is JobState {
  return typeof x === 'string' && (JOB_STATES as readonly string[]).includes(x);
}

const TERMINAL_STATES: ReadonlySet<JobState> = new Set([
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
]);

/** Whether a job in state `s` will not run again (SUCCEEDED, FAILED, CANCELLED). */
export function isTerminalState(s: JobState): boolean {
  return TERMINAL_STATES.has(s);
}

/** A job state from the wire: a name (enums: String) or the enum number (REST mode). */
export function toJobState(v: unknown): JobState {
  if (isJobState(v)) return v;
  if (typeof v === 'number' && JOB_STATES[v]) return JOB_STATES[v];
  return 'STATE_UNSPECIFIED';
}

// Batch writes state changes as "Job state is set from QUEUED to SCHEDULED for job …".
const STATE_CHANGE = /\bto ([A-Z_]+)\b/;

/** The new state a Batch status event description announces, if any. */
export function newStateOfEvent(
  description: string | undefined,
): JobState | undefined {
  const m = description ? STATE_CHANGE.exec(description) : null;
  return m && isJobState(m[1]) ? m[1] : undefined;
}
