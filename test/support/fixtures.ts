/**
 * Fixtures the tests share: run records, a Batch that is a map of jobs, and a logger that keeps
 * its lines.
 */
import type {JobState} from '../../shared/batch/job_state';
import type {
  BatchJob,
  BatchJobs,
  CancelJobOutcome,
  CreateJobOutcome,
  CreateJobRequest,
} from '../../shared/batch/jobs';
import {makeLogger, type Logger} from '../../shared/log';
import type {RunRecord} from '../../shared/runs/record';
import type {BuiltImage} from '../../sandbox/images';

/** The full name of job `id` in project p, us-central1. */
export const jobNameOf = (id: string, project = 'p') =>
  `projects/${project}/locations/us-central1/jobs/${id}`;

/** A run record of the trainer mapping, QUEUED, with `extra` laid over it. */
export function runRecord(
  id = 'trainer-0123456789ab',
  extra: Partial<RunRecord> = {},
): RunRecord {
  return {
    id,
    mapping: 'trainer',
    image: 'us-central1-docker.pkg.dev/p/ml/trainer',
    digest: 'sha256:0123456789abcdef',
    tags: ['v1'],
    region: 'us-central1',
    jobName: jobNameOf(id),
    streaming: {requested: 'auto', enabled: true, reasons: []},
    state: 'QUEUED',
    createdAt: new Date('2026-01-01T00:00:00Z'),
    history: [],
    ...extra,
  };
}

/** Laid over a launched run's record, makes it the trainer mapping's skipped push. */
export const SKIPPED_PUSH: Partial<RunRecord> = {
  id: 'skip-trainer-0123456789ab',
  state: 'SKIPPED',
  jobName: undefined,
  launchedAt: undefined,
  startedAt: undefined,
  finishedAt: undefined,
};

/** The labels pushrun puts on the trainer mapping's jobs. */
export const TRAINER_LABELS: Readonly<Record<string, string>> = {
  'pushrun-mapping': 'trainer',
  'pushrun-digest': '0123456789abcdef0123456789abcdef',
  'pushrun-streaming': 'true',
};

/**
 * Batch as a map of jobs: `getJob` answers a copy of whatever the job is when asked, and
 * records the names asked for; `error` makes every call fail; `createJob` records each
 * request and answers from `answer`; `cancelJob` records each name and cancels as Batch does.
 */
export class FakeBatchJobs implements BatchJobs {
  readonly jobs = new Map<string, BatchJob>();
  readonly calls: string[] = [];
  readonly created: CreateJobRequest[] = [];
  /** The names `cancelJob` was asked for, in order. */
  readonly cancelled: string[] = [];
  error?: Error;
  /** Makes `cancelJob` alone fail. */
  cancelError?: Error;

  private readonly project: string;
  private readonly labels: Readonly<Record<string, string>>;
  private readonly answer: (req: CreateJobRequest) => CreateJobOutcome | Error;

  constructor(
    opts: {
      /** The project of the jobs `put` makes (default p). */
      project?: string;
      /** The labels of the jobs `put` makes (default the trainer mapping's). */
      labels?: Readonly<Record<string, string>>;
      answer?: (req: CreateJobRequest) => CreateJobOutcome | Error;
    } = {},
  ) {
    this.project = opts.project ?? 'p';
    this.labels = opts.labels ?? TRAINER_LABELS;
    this.answer =
      opts.answer ??
      (() => {
        throw new Error('createJob is not used here');
      });
  }

  async createJob(req: CreateJobRequest) {
    this.created.push(req);
    if (this.error) throw this.error;
    const a = this.answer(req);
    if (a instanceof Error) throw a;
    return a;
  }

  async getJob(name: string) {
    this.calls.push(name);
    if (this.error) throw this.error;
    const j = this.jobs.get(name);
    return j && structuredClone(j);
  }

  /** Cancels as Batch does: a QUEUED, SCHEDULED or RUNNING job goes CANCELLATION_IN_PROGRESS. */
  async cancelJob(name: string): Promise<CancelJobOutcome> {
    this.cancelled.push(name);
    const err = this.error ?? this.cancelError;
    if (err) throw err;
    const j = this.jobs.get(name);
    if (!j) return 'not-found';
    if (!['QUEUED', 'SCHEDULED', 'RUNNING'].includes(j.state))
      return 'not-cancellable';
    this.jobs.set(name, {
      ...j,
      state: 'CANCELLATION_IN_PROGRESS',
      statusEvents: [
        ...j.statusEvents,
        {newState: 'CANCELLATION_IN_PROGRESS', eventTime: new Date()},
      ],
    });
    return 'cancelling';
  }

  /** Sets job `id` to `state`, adding a status event when the state changes. */
  put(id: string, state: JobState, extra: Partial<BatchJob> = {}): void {
    const name = jobNameOf(id, this.project);
    const prev = this.jobs.get(name);
    const events = [...(prev?.statusEvents ?? [])];
    if (prev?.state !== state)
      events.push({newState: state, eventTime: new Date()});
    this.jobs.set(name, {
      name,
      uid: `${id}-uid`,
      state,
      labels: {...this.labels},
      createTime: prev?.createTime ?? new Date('2026-01-01T00:00:01Z'),
      statusEvents: events,
      taskCounts: {},
      ...extra,
    });
  }
}

/** A logger that keeps its lines. */
export function recordingLogger(): Logger & {lines: Record<string, unknown>[]} {
  const lines: Record<string, unknown>[] = [];
  const logger = makeLogger(line => lines.push(JSON.parse(line)));
  return Object.assign(logger, {lines});
}

/**
 * A fetch that serves one built image like a registry, answers every request with `status`,
 * or, with status `'unreachable'`, fails the way fetch does when nothing listens.
 */
export function servedFetch(
  image: BuiltImage,
  status?: number | 'unreachable',
): typeof fetch {
  const blobs = new Map(image.blobs.map(b => [b.digest, b.bytes]));
  return (async (input: string | URL | Request) => {
    if (status === 'unreachable') {
      throw Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('connect ECONNREFUSED'), {
          code: 'ECONNREFUSED',
        }),
      });
    }
    if (status) return new Response('', {status});
    const url = String(input instanceof Request ? input.url : input);
    const m = /\/v2\/.+\/(manifests|blobs)\/(.+)$/.exec(url);
    if (m?.[1] === 'manifests' && m[2] === image.digest) {
      return new Response(image.manifest, {
        headers: {
          'content-type': image.mediaType,
          'docker-content-digest': image.digest,
        },
      });
    }
    const blob = m?.[1] === 'blobs' ? blobs.get(m[2]) : undefined;
    return blob ? new Response(blob) : new Response('', {status: 404});
  }) as typeof fetch;
}

/** The answer of a Batch that creates every job it is asked for, QUEUED. */
export const createdJob = (req: CreateJobRequest): CreateJobOutcome => ({
  created: true,
  job: {
    name: `${req.parent}/jobs/${req.jobId}`,
    uid: 'u',
    state: 'QUEUED',
    labels: {},
    statusEvents: [],
    taskCounts: {},
  },
});
