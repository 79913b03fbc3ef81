/**
 * Builds the Batch CreateJob request for one mapping and one pushed image (DESIGN.md config and
 * job identity contracts). Templates are proto3 JSON; they become `google.cloud.batch.v1.Job`
 * messages through proto3-json-serializer against the protos shipped in `@google-cloud/batch`.
 * Job fields: https://cloud.google.com/batch/docs/reference/rest/v1/projects.locations.jobs
 */
import {createHash} from 'node:crypto';
import * as protobuf from 'protobufjs';
import {fromProto3JSON, toProto3JSON} from 'proto3-json-serializer';
import type {CreateJobRequest} from './batch';
import type {JobTemplate, Mapping, PushrunConfig} from './config/types';
import {fillTemplate, type Placeholder} from './config/placeholders';
import {imageName, type ImageRef} from './image_ref';
import {STREAMING_CONTAINER_FIELDS, type Verdict} from './verdict';

export type {CreateJobRequest} from './batch';

/** The label keys pushrun puts on every job. */
export const JOB_LABELS = {
  mapping: 'pushrun-mapping',
  digest: 'pushrun-digest',
  streaming: 'pushrun-streaming',
} as const;

/** True when `field` is allowed in a streamed container runnable (see `STREAMING_CONTAINER_FIELDS`). */
export function isStreamingContainerField(field: unknown): boolean {
  return (STREAMING_CONTAINER_FIELDS as readonly unknown[]).includes(field);
}

const JOB_TYPE_NAME = 'google.cloud.batch.v1.Job';
let jobType: protobuf.Type | undefined;

/** The `google.cloud.batch.v1.Job` type, loaded from `@google-cloud/batch`'s protos on first use. */
export function batchJobType(): protobuf.Type {
  if (!jobType) {
    const json = require('@google-cloud/batch/build/protos/protos.json');
    jobType = protobuf.Root.fromJSON(json).lookupType(JOB_TYPE_NAME);
    jobType.resolveAll();
  }
  return jobType;
}

/** A Job template in proto3 JSON → the Job message; throws on a value of the wrong type. */
export function jobFromProto3JSON(json: unknown): protobuf.Message {
  const message = fromProto3JSON(batchJobType(), json as never);
  if (!message) throw new Error('the job template is null');
  return message;
}

/** A Job message → readable proto3 JSON (durations as `"3600s"`, enums by name). */
export function jobToProto3JSON(job: unknown): Record<string, unknown> {
  return toProto3JSON(job as protobuf.Message) as Record<string, unknown>;
}

/** Something in a template the Job message cannot take, and where. */
export interface TemplateProblem {
  readonly path: (string | number)[];
  readonly message: string;
  /** `key` when the problem is the field's name rather than its value. */
  readonly at?: 'key';
}

/**
 * What in a proto3 JSON template the Job message cannot take, each with its path: fields it has
 * no field for (the serializer would silently drop them; `max_run_duration` gets the hint
 * `maxRunDuration`) and scalars of the wrong type or unknown enum names.
 */
export function jobTemplateProblems(json: unknown): TemplateProblem[] {
  const found: TemplateProblem[] = [];
  walkMessage(batchJobType(), json, [], 'Job', found);
  return found;
}

// Well-known types proto3 JSON writes as strings, and ones that take free-form JSON.
const STRING_TYPES = new Set([
  '.google.protobuf.Duration',
  '.google.protobuf.Timestamp',
  '.google.protobuf.FieldMask',
]);
const FREE_TYPES = new Set([
  '.google.protobuf.Struct',
  '.google.protobuf.Value',
  '.google.protobuf.ListValue',
  '.google.protobuf.Any',
]);

function walkMessage(
  type: protobuf.Type,
  json: unknown,
  path: (string | number)[],
  where: string,
  found: TemplateProblem[],
): void {
  if (json === null) return;
  if (typeof json !== 'object' || Array.isArray(json)) {
    found.push({path, message: `${where} must be an object`});
    return;
  }
  for (const [key, value] of Object.entries(json)) {
    const field = type.fields[key];
    const at = [...path, key];
    const childWhere = `${where}.${key}`;
    if (!field) {
      const camel = key.replace(/_([a-z0-9])/g, (_, c: string) =>
        c.toUpperCase(),
      );
      const hint =
        camel !== key && type.fields[camel] ? ` (write "${camel}")` : '';
      found.push({
        path: at,
        message: `unknown field "${key}" in ${where}${hint}`,
        at: 'key',
      });
      continue;
    }
    if (value === null) continue;
    if (field.repeated && !Array.isArray(value)) {
      found.push({path: at, message: `${childWhere} must be a list`});
      continue;
    }
    if (field.map && (typeof value !== 'object' || Array.isArray(value))) {
      found.push({path: at, message: `${childWhere} must be a map`});
      continue;
    }
    const items: [unknown, (string | number)[], string][] = field.repeated
      ? (value as unknown[]).map((v, i) => [
          v,
          [...at, i],
          `${childWhere}[${i}]`,
        ])
      : field.map
        ? Object.entries(value).map(([k, v]) => [
            v,
            [...at, k],
            `${childWhere}.${k}`,
          ])
        : [[value, at, childWhere]];
    const resolved = field.resolvedType;
    for (const [v, p, w] of items) {
      if (resolved instanceof protobuf.Type) {
        if (FREE_TYPES.has(resolved.fullName)) continue;
        if (STRING_TYPES.has(resolved.fullName)) {
          if (typeof v !== 'string') {
            const example =
              resolved.name === 'Duration' ? ' such as "3600s"' : '';
            found.push({path: p, message: `${w} must be a string${example}`});
          }
          continue;
        }
        walkMessage(resolved, v, p, w, found);
      } else {
        const bad = scalarProblem(field, resolved, v);
        if (bad) found.push({path: p, message: `${w} must be ${bad}`});
      }
    }
  }
}

const NUMERIC = /^(?:(?:(?:u?int|s?fixed|sint)(?:32|64))|float|double)$/;

// What proto3 JSON accepts for a scalar or enum value, as the serializer checks it.
function scalarProblem(
  field: protobuf.Field,
  type: protobuf.Enum | protobuf.Type | null,
  value: unknown,
): string | undefined {
  if (type instanceof protobuf.Enum) {
    if (typeof value === 'number' && Object.values(type.values).includes(value))
      return;
    if (typeof value === 'string' && value in type.values) return;
    return `one of ${Object.keys(type.values).join(', ')}`;
  }
  if (NUMERIC.test(field.type)) {
    const ok =
      typeof value === 'number' ||
      (typeof value === 'string' &&
        value.trim() !== '' &&
        !isNaN(Number(value)));
    return ok ? undefined : 'a number';
  }
  if (field.type === 'string')
    return typeof value === 'string' ? undefined : 'a string';
  if (field.type === 'bool')
    return typeof value === 'boolean' ? undefined : 'true or false';
  return undefined;
}

/** A container runnable of a template, with where it sits. */
export interface ContainerRunnable {
  readonly path: (string | number)[];
  readonly container: Readonly<Record<string, unknown>>;
}

/**
 * The container runnables of a template that run the pushed image (`imageUri` absent or
 * `${IMAGE}`), with their paths: the ones pushrun pins and may stream.
 */
export function pushedImageContainers(job: JobTemplate): ContainerRunnable[] {
  const found: ContainerRunnable[] = [];
  asArray(job.taskGroups).forEach((group, g) => {
    const spec = asObject(asObject(group)?.taskSpec);
    asArray(spec?.runnables).forEach((runnable, r) => {
      const container = asObject(asObject(runnable)?.container);
      if (!container) return;
      const uri = container.imageUri;
      if (uri === undefined || uri === '' || uri === '${IMAGE}') {
        found.push({
          path: ['taskGroups', g, 'taskSpec', 'runnables', r, 'container'],
          container,
        });
      }
    });
  });
  return found;
}

/** The containers that run the pushed image, as `streamingVerdict` takes them. */
export function containerRunnables(
  job: JobTemplate,
): Readonly<Record<string, unknown>>[] {
  return pushedImageContainers(job).map(c => c.container);
}

/** Everything one CreateJob needs to know. */
export interface BuildJobInput {
  readonly mapping: Mapping;
  readonly config: PushrunConfig;
  /** The pushed image, pinned by digest. */
  readonly ref: ImageRef;
  /** The bare tag of the push; absent for an untagged push. */
  readonly tag?: string;
  readonly verdict: Verdict;
  readonly project: string;
  readonly region: string;
  /** The identity jobs run as when the template names none (`PUSHRUN_JOB_SERVICE_ACCOUNT`). */
  readonly serviceAccount?: string;
}

/** `<mapping>-<first 12 hex digits of the digest>`: one job per mapping and image, ever. */
export function jobIdFor(mapping: string, digest: string): string {
  return `${mapping}-${digestHex(digest).slice(0, 12)}`;
}

/** Whether the job streams: `auto` follows the verdict, `required` always, `off` never. */
export function streamingEnabled(mapping: Mapping, verdict: Verdict): boolean {
  if (mapping.streaming === 'off') return false;
  if (mapping.streaming === 'required') return true;
  return verdict.streamable;
}

/** The full name of a topic: short names live in `project`. */
export function topicName(topic: string, project: string): string {
  return topic.startsWith('projects/')
    ? topic
    : `projects/${project}/topics/${topic}`;
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
  const pinned = `${imageName(ref)}@${ref.digest}`;
  const parent = `projects/${project}/locations/${region}`;
  const jobId = jobIdFor(mapping.name, ref.digest);
  const streaming = streamingEnabled(mapping, verdict);
  const values: Record<Placeholder, string> = {
    IMAGE: pinned,
    IMAGE_DIGEST: ref.digest,
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
  job.labels = {
    ...(asObject(job.labels) ?? {}),
    [JOB_LABELS.mapping]: mapping.name,
    [JOB_LABELS.digest]: digestHex(ref.digest).slice(0, 32),
    [JOB_LABELS.streaming]: String(streaming),
  };
  const ours = {
    pubsubTopic: topicName(config.notifications.batchEventsTopic, project),
    message: {type: 'JOB_STATE_CHANGED'},
  };
  const theirs = asArray(job.notifications).filter(
    n => !sameNotification(n, ours),
  );
  job.notifications = [...theirs, ours];
  if (input.serviceAccount) {
    const policy = asObject(job.allocationPolicy) ?? {};
    if (!asObject(policy.serviceAccount)?.email) {
      job.allocationPolicy = {
        ...policy,
        serviceAccount: {email: input.serviceAccount},
      };
    }
  }

  return {
    parent,
    jobId,
    job: jobFromProto3JSON(job) as unknown as Record<string, unknown>,
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

function sameNotification(a: unknown, b: {pubsubTopic: string}): boolean {
  const n = asObject(a);
  const type = asObject(n?.message)?.type;
  return n?.pubsubTopic === b.pubsubTopic && type === 'JOB_STATE_CHANGED';
}

function getPath(value: unknown, path: readonly (string | number)[]): unknown {
  let v = value;
  for (const p of path) v = (v as Record<string | number, unknown>)[p];
  return v;
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}
