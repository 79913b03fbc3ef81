/**
 * Fixtures the tests share: run records, a Batch that is a map of jobs, and a logger that keeps
 * its lines.
 */
import type {JobState} from '../../shared/batch/job_state';
import type {
  BatchJob,
  BatchJobs,
  CreateJobOutcome,
  CreateJobRequest,
} from '../../shared/batch/jobs';
import {makeLogger, type Logger} from '../../shared/log';
import type {RunRecord} from '../../shared/runs/record';

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
 * request and answers from `answer`.
 */
export class FakeBatchJobs implements BatchJobs {
  readonly jobs = new Map<string, BatchJob>();
  readonly calls: string[] = [];
  readonly created: CreateJobRequest[] = [];
  error?: Error;

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
