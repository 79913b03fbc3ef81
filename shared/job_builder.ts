/**
 * Builds the Batch CreateJob request for one mapping and one pushed image (DESIGN.md config and
 * job identity contracts). Templates are canonical proto3 JSON (see `job_template.ts`); the job
 * goes to the client as a plain message object holding only the fields that are set.
 * Job fields: https://cloud.google.com/batch/docs/reference/rest/v1/projects.locations.jobs
 */
import {createHash} from 'node:crypto';
import {isDeepStrictEqual} from 'node:util';
import type {CreateJobRequest} from './batch/jobs';
import type {Mapping, PushrunConfig} from './config/types';
import {fillTemplate, type Placeholder} from './config/placeholders';
import {imageName, type ImageRef} from './image_ref';
import {toJobMessage} from './batch/convert';
import {jobLabels} from './runs/job_labels';
import {topicName} from './topics';
import {asArray, asObject, pushedImageContainers} from './containers';
import type {Verdict} from './verdict';

export type {CreateJobRequest} from './batch/jobs';

/** Everything one CreateJob needs to know. */
export interface BuildJobInput {
  readonly mapping: Mapping;
  readonly config: PushrunConfig;
  /** The pushed image, pinned by digest. */
  readonly ref: ImageRef;
  /**
   * The digest of the manifest that runs, when it is not `ref`'s: the platform's child of a
   * pushed index. The job is named after it and pinned to it.
   */
  readonly runDigest?: string;
  /** The bare tag of the push; absent for an untagged push. */
  readonly tag?: string;
  readonly verdict: Verdict;
  readonly project: string;
  readonly region: string;
  /** The identity jobs run as when the template names none (`PUSHRUN_JOB_SERVICE_ACCOUNT`). */
  readonly serviceAccount?: string;
}

/**
 * `<mapping>-<first 12 hex digits of the digest of the manifest that runs>`: one job per mapping
 * and image, ever, whichever message of a multi-arch push (a child or the index) comes first.
 */
export function jobIdFor(mapping: string, digest: string): string {
  return `${mapping}-${digestHex(digest).slice(0, 12)}`;
}

/** Whether the job streams: `auto` follows the verdict, `required` always, `off` never. */
export function streamingEnabled(mapping: Mapping, verdict: Verdict): boolean {
  if (mapping.streaming === 'off') return false;
  if (mapping.streaming === 'required') return true;
  return verdict.streamable;
}

/**
 * The CreateJob request for one mapping and one pushed image: placeholders filled, the pushed
 * image pinned by digest, streaming decided, labels and the JOB_STATE_CHANGED notification added.
 */
export function buildCreateJobRequest(input: BuildJobInput): CreateJobRequest {
  const {mapping, config, ref, tag, verdict, project, region} = input;
  if (!ref.digest) {
    throw new Error(`image ${imageName(ref)} is not pinned by digest`);
  }
  const digest = input.runDigest ?? ref.digest;
  const pinned = `${imageName(ref)}@${digest}`;
  const parent = `projects/${project}/locations/${region}`;
  const jobId = jobIdFor(mapping.name, digest);
  const streaming = streamingEnabled(mapping, verdict);
  const values: Record<Placeholder, string> = {
    IMAGE: pinned,
    IMAGE_DIGEST: digest,
    IMAGE_TAG: tag ?? '',
    IMAGE_NAME: imageName(ref),
    MAPPING: mapping.name,
  };

  // Found before filling: `${IMAGE}` marks a container that runs the pushed image.
  const targets = pushedImageContainers(mapping.job).map(c => c.path);
  const job = fillTemplate(structuredClone(mapping.job), values) as Record<
    string,
    unknown
  >;
  for (const path of targets) {
    const container = getPath(job, path) as Record<string, unknown>;
    container.imageUri = pinned;
    container.enableImageStreaming = streaming;
  }
  const labels = jobLabels(mapping.name, digest, streaming);
  job.labels = {...(asObject(job.labels) ?? {}), ...labels};
  // The template's own notifications stay as written; pushrun's is added unless already there.
  const ours = {
    pubsubTopic: topicName(config.notifications.batchEventsTopic, project),
    message: {type: 'JOB_STATE_CHANGED'},
  };
  const theirs = asArray(job.notifications);
  job.notifications = theirs.some(n => isDeepStrictEqual(n, ours))
    ? theirs
    : [...theirs, ours];
  if (input.serviceAccount) {
    const policy = asObject(job.allocationPolicy) ?? {};
    if (!asObject(policy.serviceAccount)?.email) {
      job.allocationPolicy = {
        ...policy,
        serviceAccount: {email: input.serviceAccount},
      };
    }
  }

  // The VMs carry the same labels, so the billing export can split costs by mapping.
  const policy = asObject(job.allocationPolicy) ?? {};
  job.allocationPolicy = {
    ...policy,
    labels: {...(asObject(policy.labels) ?? {}), ...labels},
  };

  return {
    parent,
    jobId,
    job: toJobMessage(job),
    requestId: requestIdFor(parent, jobId),
  };
}

/** A UUID (version 5 layout over SHA-256) derived from the job's name: the same job, the same id. */
export function requestIdFor(parent: string, jobId: string): string {
  const bytes = createHash('sha256')
    .update(`${parent}/jobs/${jobId}`)
    .digest()
    .subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    hex.slice(12, 16),
    hex.slice(16, 20),
    hex.slice(20),
  ].join('-');
}

function digestHex(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

function getPath(value: unknown, path: readonly (string | number)[]): unknown {
  let v = value;
  for (const p of path) v = (v as Record<string | number, unknown>)[p];
  return v;
}
