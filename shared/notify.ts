/**
 * Run notifications (DESIGN.md "Run notification" contract): one Pub/Sub message per finished
 * run, and, when `PUSHRUN_WEBHOOK_URL` is set, a message people read in Google Chat or Slack.
 * Chat: https://developers.google.com/workspace/chat/quickstart/webhooks
 * Slack: https://api.slack.com/messaging/webhooks
 */
import type {PubSub} from '@google-cloud/pubsub';
import {TransientError, errorMessage} from './errors';
import type {Settings} from './settings';
import {topicName} from './topics';
import {configVersionLines} from './runs/config_version';
import {Logger, makeLogger} from './log';
import {
  RunRecord,
  RunState,
  recordConsoleUrl,
  shortDigest,
} from './runs/record';

/** Tells the world that a run is over. Throws when a retry can succeed. */
export interface Notifier {
  notifyRun(record: RunRecord): Promise<void>;
}

/** The notification types on the topic (attribute `type`). */
export const NOTIFICATION_TYPES = [
  'run.succeeded',
  'run.failed',
  'run.skipped',
  'run.superseded',
] as const;
/** A notification type. */
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/**
 * The `type` of a run's notification. A run a newer push cancelled is `run.superseded`; any
 * other CANCELLED counts as `run.failed`: the run did not do its work, and subscribers that act
 * on failures should hear about it; `state` tells them apart.
 */
export function notificationType(
  state: RunState,
  supersededBy?: string,
): NotificationType {
  if (state === 'SUCCEEDED') return 'run.succeeded';
  if (state === 'SKIPPED') return 'run.skipped';
  if (supersededBy !== undefined && state === 'CANCELLED')
    return 'run.superseded';
  return 'run.failed';
}

/** A message ready for the topic: JSON body and attributes. */
export interface RunNotification {
  readonly body: Record<string, unknown>;
  readonly attributes: Record<string, string>;
}

/**
 * The topic message of a run: the record with its console link; attributes `type`, `mapping`,
 * `state`, and `runId`, which lets a subscriber drop the rare duplicate (see complete.ts).
 */
export function buildRunNotification(record: RunRecord): RunNotification {
  // The claim is bookkeeping of the recorder, not part of what subscribers are told.
  const {notifyClaim: _claim, ...rest} = record;
  void _claim;
  return {
    body: {...rest, consoleUrl: recordConsoleUrl(record) ?? record.consoleUrl},
    attributes: {
      type: notificationType(record.state, record.supersededBy),
      mapping: record.mapping,
      state: record.state,
      runId: record.id,
    },
  };
}

/** Webhook dialects: Google Chat, Slack, and anything else (which gets Slack's `{text}`). */
export type WebhookKind = 'google-chat' | 'slack' | 'generic';

/** Which dialect a webhook URL speaks, by host. */
export function webhookKind(url: string): WebhookKind {
  let host = '';
  try {
    host = new URL(url).hostname;
  } catch {
    return 'generic';
  }
  if (host === 'chat.googleapis.com') return 'google-chat';
  if (host === 'hooks.slack.com') return 'slack';
  return 'generic';
}

const OUTCOME: Record<string, string> = {
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'was cancelled',
  SKIPPED: 'was skipped',
};

/**
 * The text a person reads about a finished run. Chat and Slack both read `*bold*` and
 * `<url|label>` links, so one text serves every dialect.
 */
export function formatRunMessage(record: RunRecord): string {
  const tag = record.tags[0];
  const lines = [
    `*${record.mapping}* ${OUTCOME[record.state] ?? record.state.toLowerCase()}: ` +
      `${record.image}${tag ? ':' + tag : ''} (${shortDigest(record.digest)})`,
    `Streaming: ${streamingText(record)}`,
    ...(record.skipReason ? [`Why skipped: ${record.skipReason}`] : []),
    ...configVersionLines(record),
  ];
  const timings = [
    ['push to launch', record.pushedAt, record.launchedAt],
    ['launch to running', record.launchedAt, record.startedAt],
    ['running to end', record.startedAt, record.finishedAt],
  ] as const;
  const parts = timings.flatMap(([label, from, to]) =>
    from && to
      ? [`${label} ${humanizeSeconds((to.getTime() - from.getTime()) / 1000)}`]
      : [],
  );
  if (parts.length) lines.push(`Time: ${parts.join(', ')}`);
  const url = recordConsoleUrl(record) ?? record.consoleUrl;
  if (url) lines.push(`<${url}|Open in Cloud Console>`);
  return lines.join('\n');
}

/** `yes`, `no (CODE, CODE)`, or `off` when the mapping did not ask for streaming. */
export function streamingText(record: RunRecord): string {
  const s = record.streaming;
  if (s.enabled) return 'yes';
  if (s.requested === 'off') return 'off';
  const codes = [...new Set(s.reasons.map(r => r.code))];
  return codes.length ? `no (${codes.join(', ')})` : 'no';
}

/** A duration as people read it: `4s`, `2m 05s`, `1h 02m`, `2d 03h`. */
export function humanizeSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400)
    return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d ${pad(Math.floor(s / 3600) % 24)}h`;
}

/** The JSON body posted to a webhook of `kind`. */
export function webhookBody(
  record: RunRecord,
  kind: WebhookKind,
): Record<string, unknown> {
  const text = formatRunMessage(record);
  // Chat takes `{text}`; Slack and the generic receiver take `{text}` too (blocks are optional).
  void kind;
  return {text};
}

/** Replaces every occurrence of `secret` (and its URL-encoded form) in `text`. */
export function redact(text: string, secret: string | undefined): string {
  if (!secret) return text;
  let out = text;
  for (const s of new Set([
    secret,
    encodeURI(secret),
    encodeURIComponent(secret),
  ])) {
    out = out.split(s).join('[webhook URL]');
  }
  return out;
}

/** Options of the real notifier; everything has a default from the environment. */
export interface NotifierOptions {
  readonly fetch?: typeof fetch;
  readonly log?: Logger;
  readonly webhookAttempts?: number;
}

const WEBHOOK_ATTEMPTS = 3;
const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * The real notifier: publishes to `topic` (a name in `project`, or `projects/P/topics/T`), then
 * posts to `PUSHRUN_WEBHOOK_URL` if set. The topic is the contract and a failed publish throws;
 * the webhook is a courtesy, tried a few times and then logged, so that it can never cause a
 * second topic message. `PUBSUB_EMULATOR_HOST` in `env` points the client at the emulator.
 */
export function makeNotifier(
  topic: string,
  settings: Pick<Settings, 'project' | 'pubsubEmulatorHost' | 'webhookUrl'>,
  options: NotifierOptions = {},
): Notifier {
  let pubsub: PubSub | undefined;
  const {project, webhookUrl} = settings;
  const log = options.log ?? makeLogger();
  const fullName = topicName(topic, project);
  const client = () => {
    if (!pubsub) {
      // Loaded on first publish: cold starts that never notify skip the module.

      const {PubSub} =
        require('@google-cloud/pubsub') as typeof import('@google-cloud/pubsub');
      const emulator = settings.pubsubEmulatorHost;
      pubsub = new PubSub({
        projectId: project || undefined,
        ...(emulator ? {apiEndpoint: emulator} : {}),
      });
    }
    return pubsub;
  };
  let publisher: ReturnType<PubSub['topic']> | undefined;
  return {
    async notifyRun(record) {
      const {body, attributes} = buildRunNotification(record);
      // One message per call: no point waiting for a batch that never fills.
      publisher ??= client().topic(fullName, {batching: {maxMessages: 1}});
      try {
        await publisher.publishMessage({
          data: Buffer.from(JSON.stringify(body)),
          attributes,
        });
      } catch (e) {
        throw new TransientError(
          `publishing to ${fullName} failed: ${errorMessage(e)}`,
          {
            cause: e,
          },
        );
      }
      if (webhookUrl) {
        await postWebhook(
          record,
          webhookUrl,
          options.fetch ?? fetch,
          log,
          options.webhookAttempts,
        );
      }
    },
  };
}

/**
 * Posts a run's message to a webhook, retrying briefly; failures are logged with the URL
 * redacted and never thrown. Resolves to whether the webhook accepted it.
 */
export async function postWebhook(
  record: RunRecord,
  url: string,
  fetchFn: typeof fetch = fetch,
  log: Logger = makeLogger(),
  attempts = WEBHOOK_ATTEMPTS,
): Promise<boolean> {
  const body = JSON.stringify(webhookBody(record, webhookKind(url)));
  let last = '';
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise(r => setTimeout(r, 250 * 2 ** i));
    try {
      const res = await fetchFn(url, {
        method: 'POST',
        headers: {'content-type': 'application/json; charset=UTF-8'},
        body,
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      if (res.ok) return true;
      last = `HTTP ${res.status}`;
      if (res.status < 500 && res.status !== 429) break; // a retry will not change the answer
    } catch (e) {
      // fetch errors can quote the URL (and its secret key/token): never let it through.
      last = redact(describe(e), url);
    }
  }
  log.error('webhook notification failed', {
    jobId: record.id,
    state: record.state,
    webhook: webhookKind(url),
    error: last,
  });
  return false;
}

function describe(e: unknown): string {
  const cause = (e as {cause?: unknown})?.cause;
  return cause ? `${errorMessage(e)}: ${errorMessage(cause)}` : errorMessage(e);
}
