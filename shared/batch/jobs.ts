/**
 * Google Cloud Batch behind a small interface (the operations pushrun needs), and the pure
 * conversion of the client's Job messages into `BatchJob`. The adapter is `client.ts`.
 * API reference: https://cloud.google.com/batch/docs/reference/rpc/google.cloud.batch.v1
 */
import {newStateOfEvent, toJobState, type JobState} from './job_state';

/**
 * A CreateJob request; `job` is a plain `google.cloud.batch.v1.IJob` object holding only the
 * fields that are set (see `toJobMessage`), never a protobufjs instance.
 */
export interface CreateJobRequest {
  parent: string;
  jobId: string;
  job: Record<string, unknown>;
  requestId?: string;
}

/** A job as pushrun reads it back from Batch. */
export interface BatchJob {
  name: string;
  uid: string;
  state: JobState;
  labels: Record<string, string>;
  createTime?: Date;
  updateTime?: Date;
  /** Status events; `newState` is read from Batch's "… from X to Y …" description when present. */
  statusEvents: {
    type?: string;
    description?: string;
    eventTime?: Date;
    newState?: JobState;
  }[];
  /** Task counts by task state (PENDING, RUNNING, SUCCEEDED, ...), summed over task groups. */
  taskCounts: Record<string, number>;
  /** `status.runDuration` in seconds, when Batch reports it. */
  runDurationSeconds?: number;
}

/** The result of a create: the new job, or word that a job with that id exists already. */
export type CreateJobOutcome =
  {created: true; job: BatchJob} | {created: false; alreadyExists: true};

/**
 * What a CancelJob did: Batch took it (the job is being cancelled), refused it because the job
 * can no longer be cancelled (FAILED_PRECONDITION: it is over, or being deleted), or found no job.
 */
export type CancelJobOutcome = 'cancelling' | 'not-cancellable' | 'not-found';

/** The Batch operations pushrun needs. */
export interface BatchJobs {
  /** Creates a job; ALREADY_EXISTS is an outcome, not an error. Throws Transient/PermanentError. */
  createJob(req: CreateJobRequest): Promise<CreateJobOutcome>;
  /** Reads a job by full name; undefined when Batch says NOT_FOUND. */
  getJob(name: string): Promise<BatchJob | undefined>;
  /**
   * Asks Batch to cancel a job by full name, without waiting for the long-running operation
   * (the job's state messages tell the end). Throws Transient/PermanentError.
   */
  cancelJob(name: string): Promise<CancelJobOutcome>;
}

/** The subset of a `google.protobuf.Timestamp`/`Duration` the converters read. */
interface SecondsNanos {
  seconds?: unknown;
  nanos?: unknown;
}

/** An int64 as a number: the client gives strings (longs: String), protobufjs may give Long. */
export function int64ToNumber(v: unknown): number | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  if (
    typeof v === 'object' &&
    typeof (v as {toNumber?: unknown}).toNumber === 'function'
  ) {
    return (v as {toNumber(): number}).toNumber();
  }
  return undefined;
}

/** A `google.protobuf.Timestamp` message object as a Date. */
export function timestampToDate(ts: unknown): Date | undefined {
  if (!ts || typeof ts !== 'object') return undefined;
  const {seconds, nanos} = ts as SecondsNanos;
  const s = int64ToNumber(seconds);
  if (s === undefined) return undefined;
  return new Date(s * 1000 + Math.floor((int64ToNumber(nanos) ?? 0) / 1e6));
}

/** A `google.protobuf.Duration` message object in (fractional) seconds. */
export function durationToSeconds(d: unknown): number | undefined {
  if (!d || typeof d !== 'object') return undefined;
  const {seconds, nanos} = d as SecondsNanos;
  const s = int64ToNumber(seconds);
  if (s === undefined) return undefined;
  return s + (int64ToNumber(nanos) ?? 0) / 1e9;
}

/** Converts a `google.cloud.batch.v1.Job` message object into a `BatchJob`. */
export function toBatchJob(job: Record<string, unknown>): BatchJob {
  const status = (job.status ?? {}) as {
    state?: unknown;
    statusEvents?: unknown;
    taskGroups?: unknown;
    runDuration?: unknown;
  };
  const events = Array.isArray(status.statusEvents) ? status.statusEvents : [];
  const taskCounts: Record<string, number> = {};
  const groups = (status.taskGroups ?? {}) as Record<
    string,
    {counts?: unknown}
  >;
  for (const group of Object.values(groups)) {
    const counts = (group?.counts ?? {}) as Record<string, unknown>;
    for (const [taskState, n] of Object.entries(counts)) {
      const count = int64ToNumber(n);
      if (count !== undefined)
        taskCounts[taskState] = (taskCounts[taskState] ?? 0) + count;
    }
  }
  const out: BatchJob = {
    name: String(job.name ?? ''),
    uid: String(job.uid ?? ''),
    state: toJobState(status.state),
    labels: {...((job.labels ?? {}) as Record<string, string>)},
    statusEvents: events.map((e: Record<string, unknown>) => {
      const description =
        typeof e?.description === 'string' ? e.description : undefined;
      const event: BatchJob['statusEvents'][number] = {};
      if (typeof e?.type === 'string' && e.type) event.type = e.type;
      if (description) event.description = description;
      const eventTime = timestampToDate(e?.eventTime);
      if (eventTime) event.eventTime = eventTime;
      const newState = newStateOfEvent(description);
      if (newState) event.newState = newState;
      return event;
    }),
    taskCounts,
  };
  const createTime = timestampToDate(job.createTime);
  if (createTime) out.createTime = createTime;
  const updateTime = timestampToDate(job.updateTime);
  if (updateTime) out.updateTime = updateTime;
  const runDurationSeconds = durationToSeconds(status.runDuration);
  if (runDurationSeconds !== undefined)
    out.runDurationSeconds = runDurationSeconds;
  return out;
}
