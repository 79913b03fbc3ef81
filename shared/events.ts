/**
 * Decodes the Eventarc `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent that carries an
 * Artifact Registry notification into one domain type, `ImagePush`, or a reason to ignore it.
 *
 * Payloads on topic `gcr` are JSON: `{"action":"INSERT","digest":"HOST/PATH@sha256:…"}` for a push,
 * with `"tag":"HOST/PATH:TAG"` when a tag is added, and `{"action":"DELETE","tag":…}` on deletion.
 * See https://cloud.google.com/artifact-registry/docs/configure-notifications and, for the
 * envelope, https://cloud.google.com/eventarc/docs/cloudevents#pubsub
 */
import {isJobState, type JobState} from './batch/job_state';
import {eventData, eventTypeProblem, isObject} from './cloud_event';
import {errorMessage} from './errors';
import {imageName, parseImageRef, type ImageRef} from './image_ref';
import {parseJobName} from './runs/record';

/** An image push that can start runs: an INSERT with a digest. */
export interface ImagePush {
  readonly eventId: string;
  /** The pushed image, pinned by digest (no tag). */
  readonly digestRef: ImageRef;
  /** The bare tag, like `1.1`; absent for an untagged push. */
  readonly tag?: string;
  readonly publishedAt: Date;
}

/** A push to act on, or why the event starts nothing. */
export type PushDecision =
  | {kind: 'push'; push: ImagePush}
  | {kind: 'ignore'; reason: string; eventId?: string};

/** The actions Artifact Registry notifications carry. */
export const PUSH_ACTIONS = ['INSERT', 'DELETE'] as const;
/** `INSERT` (upload or new tag) or `DELETE`. */
export type PushAction = (typeof PUSH_ACTIONS)[number];
/** True when `value` is a known notification action. */
export function isPushAction(value: unknown): value is PushAction {
  return (PUSH_ACTIONS as readonly unknown[]).includes(value);
}

/** What decoding reads of a CloudEvent; `data` may be an object, a JSON string or a Buffer. */
export interface PushEvent {
  readonly id?: string;
  readonly type?: string;
  readonly time?: string;
  readonly data?: unknown;
}

/**
 * Decodes a messagePublished CloudEvent; never throws: bad input is an `ignore` with a reason.
 * This is the gate (DESIGN.md "What an event must be"): only a Pub/Sub message whose digest
 * reference follows the distribution grammar, and whose tag (if any) follows the OCI tag grammar
 * and names the same image, becomes a push. Every value a placeholder can receive has passed it.
 */
export function decodeImagePush(event: PushEvent): PushDecision {
  let eventId = typeof event.id === 'string' && event.id ? event.id : undefined;
  const ignore = (reason: string): PushDecision => ({
    kind: 'ignore',
    reason,
    ...(eventId !== undefined && {eventId}),
  });
  const wrongType = eventTypeProblem(event.type);
  if (wrongType) return ignore(wrongType);

  const data = eventData(event.data);
  if (typeof data === 'string') return ignore(data);
  const message = data.message;
  if (!isObject(message)) return ignore('the event has no data.message');
  if (
    eventId === undefined &&
    typeof message.messageId === 'string' &&
    message.messageId
  ) {
    eventId = message.messageId;
  }

  const publishedText =
    typeof message.publishTime === 'string' ? message.publishTime : event.time;
  const publishedAt = publishedText ? new Date(publishedText) : undefined;
  if (!publishedAt || isNaN(publishedAt.getTime())) {
    return ignore(
      publishedText
        ? `data.message.publishTime "${publishedText}" is not a timestamp`
        : 'the event has no data.message.publishTime',
    );
  }
  if (eventId === undefined)
    return ignore('the event has no id and no data.message.messageId');

  if (typeof message.data !== 'string' || message.data === '') {
    return ignore('data.message.data is missing or not a base64 string');
  }
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(message.data)) {
    return ignore('data.message.data is not valid base64');
  }
  const text = Buffer.from(message.data, 'base64').toString('utf8');
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (e) {
    return ignore(`the notification is not JSON: ${errorMessage(e)}`);
  }
  if (!isObject(payload))
    return ignore('the notification is not a JSON object');

  const {action, digest, tag} = payload;
  if (typeof action !== 'string')
    return ignore('the notification has no action');
  if (!isPushAction(action)) return ignore(`unknown action "${action}"`);
  if (action !== 'INSERT') return ignore(`action ${action} starts no run`);
  if (digest === undefined || digest === '') {
    return ignore('INSERT without a digest (a tag change only) starts no run');
  }
  if (typeof digest !== 'string')
    return ignore("the notification's digest is not a string");
  if (tag !== undefined && typeof tag !== 'string') {
    return ignore("the notification's tag is not a string");
  }

  let digestRef: ImageRef;
  try {
    digestRef = parseImageRef(digest);
  } catch (e) {
    return ignore(`digest: ${errorMessage(e)}`);
  }
  if (!digestRef.digest)
    return ignore(`digest "${clip(digest)}" is not pinned by a digest`);
  const pinned = withoutTag(digestRef);

  let bareTag: string | undefined;
  if (tag) {
    let tagRef: ImageRef;
    try {
      tagRef = parseImageRef(tag);
    } catch (e) {
      return ignore(`tag: ${errorMessage(e)}`);
    }
    if (!tagRef.tag || tagRef.digest)
      return ignore(`tag "${clip(tag)}" is not IMAGE:TAG`);
    // Artifact Registry names the same image in both; anything else is not its notification.
    if (imageName(tagRef) !== imageName(pinned)) {
      return ignore(
        `tag "${clip(tag)}" names another image than the digest ${imageName(pinned)}`,
      );
    }
    bareTag = tagRef.tag;
  }

  return {
    kind: 'push',
    push: {
      eventId,
      digestRef: pinned,
      ...(bareTag !== undefined && {tag: bareTag}),
      publishedAt,
    },
  };
}

// Hostile input is shown, but never at length.
function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function withoutTag(ref: ImageRef): ImageRef {
  const copy: {-readonly [K in keyof ImageRef]: ImageRef[K]} = {...ref};
  delete copy.tag;
  return copy;
}

/** A Batch state-change message, reduced to what it hints at. */
export interface JobStateHint {
  /** Full `projects/P/locations/R/jobs/ID`. */
  readonly jobName: string;
  readonly jobId: string;
  readonly jobUid?: string;
  readonly newState?: JobState;
  readonly region?: string;
  readonly eventId: string;
}

/** A decoded message: a hint to act on, or a reason to acknowledge and move on. */
export type JobStateDecision =
  | {readonly kind: 'hint'; readonly hint: JobStateHint}
  | {
      readonly kind: 'ignore';
      readonly reason: string;
      readonly eventId?: string;
    };

/** The parts of an Eventarc `messagePublished` CloudEvent the decoder reads. */
export interface JobStateEvent {
  readonly id?: string;
  readonly type?: string;
  readonly data?: unknown;
}

const JOB_ID = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Turns an Eventarc Pub/Sub CloudEvent from Batch into a hint. `data` may be an object, a JSON
 * string or bytes; only `Type=JOB_STATE_CHANGED` matters. A bare `JobName` is completed with
 * the `Region` attribute and the project from `env`. An unknown `NewJobState` is dropped, not
 * fatal: the hint only says which job to look at.
 */
export function decodeJobStateHint(
  event: unknown,
  project: string,
): JobStateDecision {
  if (!event || typeof event !== 'object') {
    return {kind: 'ignore', reason: 'event is not an object'};
  }
  const wrongType = eventTypeProblem((event as JobStateEvent).type);
  if (wrongType) return {kind: 'ignore', reason: wrongType};
  const parsed = eventData((event as JobStateEvent).data);
  const data = typeof parsed === 'string' ? undefined : parsed;
  const message = data?.message;
  if (!message || typeof message !== 'object') {
    return {kind: 'ignore', reason: 'event has no data.message'};
  }
  const msg = message as Record<string, unknown>;
  const eventId =
    stringOr((event as JobStateEvent).id) ??
    stringOr(msg.messageId) ??
    stringOr(msg.message_id) ??
    '';
  const ignore = (reason: string): JobStateDecision => ({
    kind: 'ignore',
    reason,
    eventId,
  });
  const attrs = {...bodyAttributes(msg.data), ...stringRecord(msg.attributes)};
  if (attrs.Type !== 'JOB_STATE_CHANGED') {
    return ignore(
      `message type ${JSON.stringify(attrs.Type ?? null)} is not JOB_STATE_CHANGED`,
    );
  }
  const rawName = attrs.JobName;
  if (!rawName) return ignore('message has no JobName attribute');
  let jobName: string;
  let region = attrs.Region || undefined;
  const full = parseJobName(rawName);
  if (full) {
    jobName = rawName;
    region ??= full.region;
  } else {
    if (!JOB_ID.test(rawName))
      return ignore(`JobName ${JSON.stringify(rawName)} is not a job name`);
    if (!region)
      return ignore(
        `JobName ${rawName} is bare and there is no Region attribute`,
      );
    if (!project)
      return ignore(
        `JobName ${rawName} is bare and GOOGLE_CLOUD_PROJECT is not set`,
      );
    jobName = `projects/${project}/locations/${region}/jobs/${rawName}`;
  }
  const newState = isJobState(attrs.NewJobState)
    ? attrs.NewJobState
    : undefined;
  return {
    kind: 'hint',
    hint: {
      jobName,
      jobId: parseJobName(jobName)!.jobId,
      eventId,
      ...(attrs.JobUID ? {jobUid: attrs.JobUID} : {}),
      ...(newState ? {newState} : {}),
      ...(region ? {region} : {}),
    },
  };
}

/** Batch sends the facts as attributes; a JSON body with the same keys is read as a fallback. */
function bodyAttributes(data: unknown): Record<string, string> {
  if (typeof data !== 'string' || !data) return {};
  try {
    return stringRecord(
      JSON.parse(Buffer.from(data, 'base64').toString('utf8')),
    );
  } catch {
    return {}; // Batch's body is free text
  }
}

function stringRecord(v: unknown): Record<string, string> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).filter(
      ([, x]) => typeof x === 'string',
    ),
  ) as Record<string, string>;
}

function stringOr(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : undefined;
}
