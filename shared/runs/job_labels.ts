/**
 * The labels pushrun puts on every job and its VMs (DESIGN.md "Job identity"), defined once, and
 * the run record they let the recorder rebuild when a job has none.
 */
import type {BatchJob} from '../batch/jobs';
import {consoleUrl, parseJobName, type RunRecord} from './record';

/** The label keys pushrun puts on every job. */
export const JOB_LABELS = {
  mapping: 'pushrun-mapping',
  digest: 'pushrun-digest',
  streaming: 'pushrun-streaming',
} as const;

/** pushrun's labels for a job of `mapping` running `digest` (`sha256:<hex>`), streaming or not. */
export function jobLabels(
  mapping: string,
  digest: string,
  streaming: boolean,
): Record<string, string> {
  return {
    [JOB_LABELS.mapping]: mapping,
    [JOB_LABELS.digest]: digest.slice(digest.indexOf(':') + 1).slice(0, 32),
    [JOB_LABELS.streaming]: String(streaming),
  };
}

/** Whether pushrun started the job (it carries the mapping label). */
export function isPushrunJob(job: Pick<BatchJob, 'labels'>): boolean {
  return Boolean(job.labels[JOB_LABELS.mapping]);
}

/**
 * A record for a pushrun job that has none (launched before the record was written, or the
 * record was lost), from what the job itself says. Image and tags are not on the job.
 */
export function recordFromJob(job: BatchJob, now: Date): RunRecord {
  const parts = parseJobName(job.name);
  const digestLabel = job.labels[JOB_LABELS.digest];
  return {
    id: jobIdOf(job),
    mapping: job.labels[JOB_LABELS.mapping],
    image: '',
    digest: digestLabel ? `sha256:${digestLabel}` : '',
    tags: [],
    region: parts?.region ?? '',
    jobName: job.name,
    ...(job.uid ? {jobUid: job.uid} : {}),
    streaming: {
      requested: 'unknown',
      enabled: job.labels[JOB_LABELS.streaming] === 'true',
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

/** The job id of a job, from its full name. */
export function jobIdOf(job: BatchJob): string {
  return parseJobName(job.name)?.jobId ?? job.name.split('/').pop()!;
}
