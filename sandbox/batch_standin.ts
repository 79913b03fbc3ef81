/**
 * STAND-IN for the Google Cloud Batch API — a fake, for tests and the local sandbox only.
 *
 * Google Batch has no emulator, so this is a gRPC server for `google.cloud.batch.v1.BatchService`
 * built from the `.proto` files that ship inside `@google-cloud/batch`: the real client talks to
 * it over the real protocol. It keeps jobs in memory, checks what Batch checks on create (jobId
 * pattern, parent, one task group, labels), records every request with its bytes, injects faults
 * on demand and can walk jobs through their states. It is the only fake in the test setup.
 *
 * It reads requests as strictly as Google does: a request that sets two members of one `oneof`
 * (which protobufjs would keep, but Google's runtime reads as the last one only) is refused with
 * INVALID_ARGUMENT, naming both.
 */
import {randomUUID} from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import {JobState, isTerminalState} from '../shared/batch/job_state';
import {
  batchService,
  checkCreateRequest,
  checkJobName,
  checkParent,
  jobOperation,
  RpcError,
  timestamp,
  type RecordedRequest,
} from './batch_wire';

export type {RecordedRequest} from './batch_wire';

/** A job as the stand-in stores it: a `google.cloud.batch.v1.Job` message object (camelCase). */
export type StandinJob = Record<string, unknown> & {
  name: string;
  uid: string;
  labels?: Record<string, string>;
  taskGroups?: Record<string, unknown>[];
  status: {
    state: JobState;
    statusEvents: Record<string, unknown>[];
    taskGroups: Record<string, {counts: Record<string, string>}>;
    runDuration?: {seconds: string; nanos: number};
  };
};

/** The RPCs the stand-in serves; the other BatchService methods answer UNIMPLEMENTED. */
export const STANDIN_METHODS = [
  'CreateJob',
  'GetJob',
  'ListJobs',
  'DeleteJob',
  'CancelJob',
] as const;
/** A served RPC name. */
export type StandinMethod = (typeof STANDIN_METHODS)[number];

/** Called after each lifecycle transition, with the job as it now is. */
export type StateChangeCallback = (
  job: StandinJob,
  newState: JobState,
) => Promise<void> | void;

/** Options for {@link startBatchStandin}. */
export interface BatchStandinOptions {
  /**
   * Walk every created job QUEUED → SCHEDULED → RUNNING → SUCCEEDED/FAILED, one step per
   * `stepMs`; a cancelled job goes CANCELLATION_IN_PROGRESS at once and CANCELLED a step later.
   */
  lifecycle?: {stepMs: number; onStateChange?: StateChangeCallback};
}

/** A running stand-in. */
export interface BatchStandin {
  /** `127.0.0.1:PORT`, the value for `PUSHRUN_BATCH_ENDPOINT`. */
  readonly endpoint: string;
  readonly port: number;
  /** Every request received, in order, including those answered with an injected fault. */
  readonly requests: RecordedRequest[];
  /** Jobs by full name. */
  readonly jobs: Map<string, StandinJob>;
  /** Errors thrown by `onStateChange`, kept so a test can assert there were none. */
  readonly callbackErrors: unknown[];
  /** Answers the next `times` calls of `method` with gRPC status `code`. */
  failNext(method: StandinMethod, code: grpc.status, times?: number): void;
  /** Moves a job to `state` with a status event; optional task counts replace the group's. */
  setState(
    name: string,
    state: JobState,
    opts?: {taskCounts?: Record<string, number>},
  ): StandinJob;
  /** Resolves once every lifecycle of the jobs created so far has finished its callbacks. */
  settled(): Promise<void>;
  /** Stops timers and the server. */
  stop(): Promise<void>;
}

/** Label that makes a lifecycle job end FAILED instead of SUCCEEDED (sandbox demos). */
export const DEMO_OUTCOME_LABEL = 'pushrun-demo-outcome';

/** The states Batch cancels a job from. */
const CANCELLABLE: readonly JobState[] = ['QUEUED', 'SCHEDULED', 'RUNNING'];

/** A job in a final state, or on its way out: no lifecycle step moves it any more. */
function isSettling(state: JobState): boolean {
  return (
    isTerminalState(state) ||
    state === 'CANCELLATION_IN_PROGRESS' ||
    state === 'DELETION_IN_PROGRESS'
  );
}

function taskCount(job: StandinJob): number {
  const n = Number((job.taskGroups?.[0] as {taskCount?: unknown})?.taskCount);
  return Number.isFinite(n) && n > 0 ? n : 1;
}

/** Starts a stand-in on 127.0.0.1 at a free port. */
export async function startBatchStandin(
  opts: BatchStandinOptions = {},
): Promise<BatchStandin> {
  const server = new grpc.Server();
  const requests: RecordedRequest[] = [];
  const jobs = new Map<string, StandinJob>();
  const requestIds = new Map<string, string>(); // requestId → job name
  const faults = new Map<string, grpc.status[]>();
  const timers = new Map<NodeJS.Timeout, () => void>();
  const lifecycles: Promise<void>[] = [];
  const callbackErrors: unknown[] = [];
  let stopped = false;

  function setState(
    name: string,
    state: JobState,
    o: {taskCounts?: Record<string, number>} = {},
  ): StandinJob {
    const job = jobs.get(name);
    if (!job) throw new Error(`stand-in: no job ${name}`);
    const now = Date.now();
    const from = job.status.state;
    job.status.state = state;
    job.status.statusEvents.push({
      type: 'STATUS_CHANGED',
      eventTime: timestamp(now),
      // The wording Batch uses; the adapter reads the new state from it.
      description: `Job state is set from ${from} to ${state} for job ${name}.`,
    });
    if (o.taskCounts) {
      const counts: Record<string, string> = {};
      for (const [k, v] of Object.entries(o.taskCounts)) counts[k] = String(v);
      job.status.taskGroups = {group0: {counts}};
    }
    if (state === 'RUNNING') runningSince.set(name, now);
    const started = runningSince.get(name);
    if (started !== undefined && state !== 'RUNNING') {
      const ms = now - started;
      job.status.runDuration = {
        seconds: String(Math.floor(ms / 1000)),
        nanos: (ms % 1000) * 1e6,
      };
    }
    job.updateTime = timestamp(now);
    return job;
  }
  const runningSince = new Map<string, number>();

  function sleep(ms: number): Promise<void> {
    return new Promise(resolve => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      // stop() resolves pending sleeps so settled() never hangs.
      timers.set(t, resolve);
    });
  }

  async function runLifecycle(name: string): Promise<void> {
    const lc = opts.lifecycle!;
    const job = jobs.get(name)!;
    const n = taskCount(job);
    const fails = job.labels?.[DEMO_OUTCOME_LABEL] === 'failed';
    const steps: [JobState, Record<string, number>][] = [
      ['SCHEDULED', {PENDING: n}],
      ['RUNNING', {RUNNING: n}],
      fails ? ['FAILED', {FAILED: n}] : ['SUCCEEDED', {SUCCEEDED: n}],
    ];
    for (const [state, taskCounts] of steps) {
      await sleep(lc.stepMs);
      if (stopped || !jobs.has(name)) return;
      const current = jobs.get(name)!;
      // A job a test has already ended with setState, or one being cancelled, is left alone.
      if (isSettling(current.status.state)) return;
      await announce(name, state, taskCounts);
    }
  }

  /** Moves the job and tells `onStateChange`, as Batch publishes each change. */
  async function announce(
    name: string,
    state: JobState,
    taskCounts?: Record<string, number>,
  ): Promise<void> {
    const job = setState(name, state, taskCounts && {taskCounts});
    try {
      await opts.lifecycle?.onStateChange?.(structuredClone(job), state);
    } catch (err) {
      callbackErrors.push(err);
    }
  }

  /** CANCELLATION_IN_PROGRESS now, CANCELLED a lifecycle step later (at once without one). */
  async function runCancellation(name: string): Promise<void> {
    await announce(name, 'CANCELLATION_IN_PROGRESS');
    await sleep(opts.lifecycle?.stepMs ?? 0);
    if (stopped || !jobs.has(name)) return;
    const n = taskCount(jobs.get(name)!);
    await announce(name, 'CANCELLED', {CANCELLED: n});
  }

  function takeFault(method: string): grpc.status | undefined {
    const queue = faults.get(method);
    return queue?.length ? queue.shift() : undefined;
  }

  function createJob(req: Record<string, unknown>): StandinJob {
    const {parent, jobId, job, groups} = checkCreateRequest(req);
    const name = `${parent}/jobs/${jobId}`;
    const requestId = req.requestId ? String(req.requestId) : '';
    // A retried request (same request_id) gets the job it created, as Batch promises.
    if (requestId && requestIds.get(requestId) === name && jobs.has(name)) {
      return jobs.get(name)!;
    }
    if (jobs.has(name)) {
      throw new RpcError(
        grpc.status.ALREADY_EXISTS,
        `Job ${name} already exists`,
      );
    }
    const now = Date.now();
    const stored: StandinJob = {
      ...structuredClone(job),
      name,
      uid: `${jobId.slice(0, 40)}-${randomUUID()}`,
      taskGroups: (groups as Record<string, unknown>[]).map((g, i) => ({
        ...structuredClone(g),
        name: `${name}/taskGroups/group${i}`,
      })),
      createTime: timestamp(now),
      updateTime: timestamp(now),
      status: {
        state: 'QUEUED',
        statusEvents: [],
        taskGroups: {},
      },
    };
    jobs.set(name, stored);
    if (requestId) requestIds.set(requestId, name);
    if (opts.lifecycle) lifecycles.push(runLifecycle(name));
    return stored;
  }

  function getJob(req: Record<string, unknown>): StandinJob {
    const name = checkJobName(req);
    const job = jobs.get(name);
    if (!job)
      throw new RpcError(grpc.status.NOT_FOUND, `Job ${name} not found`);
    return job;
  }

  function listJobs(req: Record<string, unknown>): Record<string, unknown> {
    const parent = checkParent(req);
    const all = [...jobs.values()].filter(j =>
      j.name.startsWith(`${parent}/jobs/`),
    );
    const start = Number(req.pageToken || 0);
    const size = Number(req.pageSize) > 0 ? Number(req.pageSize) : 100;
    const page = all.slice(start, start + size);
    const next = start + size < all.length ? String(start + size) : '';
    return {jobs: page, nextPageToken: next};
  }

  function deleteJob(req: Record<string, unknown>): Record<string, unknown> {
    const job = getJob(req);
    jobs.delete(job.name);
    // Batch answers with a long-running operation; this one is already done.
    return jobOperation(job.name, 'delete');
  }

  function cancelJob(req: Record<string, unknown>): Record<string, unknown> {
    const job = getJob(req);
    const state = job.status.state;
    // Batch cancels a job that has not ended; any other is refused, as Batch refuses it.
    if (!CANCELLABLE.includes(state)) {
      throw new RpcError(
        grpc.status.FAILED_PRECONDITION,
        `Job ${job.name} is ${state} and cannot be cancelled`,
      );
    }
    lifecycles.push(runCancellation(job.name));
    return jobOperation(job.name, 'cancel');
  }

  const handlers: Record<
    StandinMethod,
    (req: Record<string, unknown>) => unknown
  > = {
    CreateJob: createJob,
    GetJob: getJob,
    ListJobs: listJobs,
    DeleteJob: deleteJob,
    CancelJob: cancelJob,
  };

  server.addService(...batchService(handlers, requests, takeFault));

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      '127.0.0.1:0',
      grpc.ServerCredentials.createInsecure(),
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  );

  return {
    endpoint: `127.0.0.1:${port}`,
    port,
    requests,
    jobs,
    callbackErrors,
    failNext(method, code, times = 1) {
      const queue = faults.get(method) ?? [];
      for (let i = 0; i < times; i++) queue.push(code);
      faults.set(method, queue);
    },
    setState,
    async settled() {
      await Promise.all(lifecycles);
    },
    async stop() {
      stopped = true;
      for (const [t, wake] of timers) {
        clearTimeout(t);
        wake();
      }
      timers.clear();
      await new Promise<void>(resolve => server.tryShutdown(() => resolve()));
    },
  };
}
