/**
 * The Pub/Sub message Batch publishes when a job's state changes, for the stand-in's lifecycle
 * (sandbox, tests). Batch notifications: https://cloud.google.com/batch/docs/enable-notifications
 * The attributes carry the facts; pushrun reads only them and then asks getJob for the truth.
 */
import {JobState} from '../shared/batch/job_state';

/** A Pub/Sub message as a publisher sends it. */
export interface BatchStateMessage {
  data: Buffer;
  attributes: {
    Type: 'JOB_STATE_CHANGED';
    JobName: string;
    JobUID: string;
    NewJobState: JobState;
    Region: string;
  };
}

/** The region (location) part of `projects/P/locations/REGION/jobs/J`, or '' if absent. */
export function regionOfJobName(name: string): string {
  return /\/locations\/([^/]+)\//.exec(name)?.[1] ?? '';
}

/** The JOB_STATE_CHANGED message Batch would publish for `job` entering `newState`. */
export function batchStateMessage(
  job: {name: string; uid: string},
  newState: JobState,
): BatchStateMessage {
  return {
    // A short human-readable body; consumers must not parse it.
    data: Buffer.from(`Job state was updated to ${newState}`),
    attributes: {
      Type: 'JOB_STATE_CHANGED',
      JobName: job.name,
      JobUID: job.uid,
      NewJobState: newState,
      Region: regionOfJobName(job.name),
    },
  };
}
