/**
 * The envelope of a Pub/Sub message delivered by Eventarc as a CloudEvent
 * (`google.cloud.pubsub.topic.v1.messagePublished`): `data` may reach a handler as an object,
 * a JSON string or bytes, depending on how it was delivered.
 * https://cloud.google.com/eventarc/docs/cloudevents#pubsub
 */

/** The one CloudEvent type pushrun acts on: a message published to a Pub/Sub topic. */
export const PUBSUB_MESSAGE_TYPE =
  'google.cloud.pubsub.topic.v1.messagePublished';

/** Why a CloudEvent of type `type` is not acted on, or undefined when it is a Pub/Sub message. */
export function eventTypeProblem(type: unknown): string | undefined {
  if (type === PUBSUB_MESSAGE_TYPE) return undefined;
  const shown =
    typeof type === 'string' && type
      ? `"${type.length > 100 ? type.slice(0, 100) + '…' : type}"`
      : 'missing';
  return `the CloudEvent type is ${shown}, not ${PUBSUB_MESSAGE_TYPE}`;
}

/** Whether `v` is a plain JSON object. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The CloudEvent's data as an object, or a sentence saying why it is not one. */
export function eventData(data: unknown): Record<string, unknown> | string {
  let value = data;
  if (value instanceof Uint8Array) value = Buffer.from(value).toString('utf8');
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return 'the event data is not JSON';
    }
  }
  if (value === undefined || value === null) return 'the event has no data';
  if (!isObject(value)) return 'the event data is not an object';
  return value;
}
