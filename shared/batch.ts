/**
 * Google Cloud Batch behind a small interface, and its one real adapter over
 * `@google-cloud/batch`. API reference:
 * https://cloud.google.com/batch/docs/reference/rpc/google.cloud.batch.v1
 */
import {BatchServiceClient} from '@google-cloud/batch';
// google-gax's own grpc-js instance: channel credentials must come from the copy the client uses.
import {CallOptions, ClientOptions, grpc} from 'google-gax';
import {PermanentError, TransientError, errorMessage} from './errors';

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

/** The Batch operations pushrun needs. */
export interface BatchJobs {
  /** Creates a job; ALREADY_EXISTS is an outcome, not an error. Throws Transient/PermanentError. */
  createJob(req: CreateJobRequest): Promise<CreateJobOutcome>;
  /** Reads a job by full name; undefined when Batch says NOT_FOUND. */
  getJob(name: string): Promise<BatchJob | undefined>;
}

/** gRPC status codes, as numbers (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
const CODE = {
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  RESOURCE_EXHAUSTED: 8,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/**
 * Codes a later attempt can get past. UNKNOWN is included because grpc-js reports a dropped
 * connection or a proxy's non-gRPC reply as UNKNOWN; INTERNAL is Google's "retry" advice for
 * server faults. Anything else (INVALID_ARGUMENT, PERMISSION_DENIED, ...) needs a human.
 */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  CODE.UNKNOWN,
  CODE.DEADLINE_EXCEEDED,
  CODE.RESOURCE_EXHAUSTED,
  CODE.ABORTED,
  CODE.INTERNAL,
  CODE.UNAVAILABLE,
]);

/** The numeric gRPC status code of an error, if it carries one. */
export function grpcCode(err: unknown): number | undefined {
  const code = (err as {code?: unknown} | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Whether a gRPC error may pass on retry: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
 * ABORTED, INTERNAL, UNKNOWN. An error without a code (e.g. a socket error) counts as transient.
 */
export function isTransientGrpcError(err: unknown): boolean {
  const code = grpcCode(err);
  return code === undefined || TRANSIENT_CODES.has(code);
}

/** Wraps a failed Batch call in the error class that says whether to retry. */
export function classifyBatchError(what: string, err: unknown): Error {
  const message = `Batch ${what} failed: ${errorMessage(err)}`;
  return isTransientGrpcError(err)
    ? new TransientError(message, {cause: err})
    : new PermanentError(message, {cause: err});
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

/** Splits `host:port` (or `[v6]:port`) into its parts; throws PermanentError on anything else. */
export function parseEndpoint(endpoint: string): {host: string; port: number} {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(endpoint.trim());
  if (!m) {
    throw new PermanentError(
      `PUSHRUN_BATCH_ENDPOINT must be host:port, got "${endpoint}"`,
    );
  }
  // An IPv6 host keeps its brackets: gax joins host and port with ':' into the gRPC target.
  return {host: m[1], port: Number(m[2])};
}

/**
 * Client options: Google's endpoint with ADC, or with `PUSHRUN_BATCH_ENDPOINT` a plaintext
 * channel and no credentials at all (gax skips auth when `sslCreds` is given).
 */
export function batchClientOptions(
  env: NodeJS.ProcessEnv = process.env,
): ClientOptions {
  const endpoint = env.PUSHRUN_BATCH_ENDPOINT;
  if (!endpoint) return {};
  const {host, port} = parseEndpoint(endpoint);
  return {
    apiEndpoint: host,
    port,
    sslCreds: grpc.credentials.createInsecure(),
    // Stated, so gax's universe-domain check does not go looking for credentials (ADC).
    universeDomain: 'googleapis.com',
  };
}

/**
 * No gax auto-retry for createJob: the function is redelivered by Pub/Sub, so one bounded
 * attempt is enough and a dead endpoint fails in seconds, not the default 10 minutes.
 */
const CREATE_CALL: CallOptions = {timeout: 30_000, retry: null};
/** getJob is idempotent: gax retries UNAVAILABLE, but at most three attempts in all (about 2 s). */
const GET_CALL: CallOptions = {timeout: 30_000, maxRetries: 3};

/** The real adapter; the BatchServiceClient is created once, on first use (cold start). */
export function makeBatchJobs(env: NodeJS.ProcessEnv = process.env): BatchJobs {
  let client: BatchServiceClient | undefined;
  const batch = () =>
    (client ??= new BatchServiceClient(batchClientOptions(env)));
  return {
    async createJob(req) {
      try {
        const [job] = await batch().createJob(
          {
            parent: req.parent,
            jobId: req.jobId,
            job: req.job,
            ...(req.requestId ? {requestId: req.requestId} : {}),
          },
          CREATE_CALL,
        );
        return {created: true, job: toBatchJob(job as Record<string, unknown>)};
      } catch (err) {
        if (grpcCode(err) === CODE.ALREADY_EXISTS) {
          return {created: false, alreadyExists: true};
        }
        throw classifyBatchError(
          `createJob ${req.parent}/jobs/${req.jobId}`,
          err,
        );
      }
    },
    async getJob(name) {
      try {
        const [job] = await batch().getJob({name}, GET_CALL);
        return toBatchJob(job as Record<string, unknown>);
      } catch (err) {
        if (grpcCode(err) === CODE.NOT_FOUND) return undefined;
        throw classifyBatchError(`getJob ${name}`, err);
      }
    },
  };
}
