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
import {Logger, makeLogger} from './log';
import {RunRecord, RunState, recordConsoleUrl} from './runs/record';
import {pulledStartupMedianOf} from './runs/peer_startup';
import type {RunStore} from './runs/store';
import {postWebhook} from './webhook/post';

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

// The webhook side lives in shared/webhook/; these names are its public face here.
export {humanizeSeconds} from './duration';
export {formatRunMessage, streamingText} from './webhook/message';
export {webhookBody, webhookKind, type WebhookKind} from './webhook/cards';
export {postWebhook, redact} from './webhook/post';

/** Options of the real notifier; everything has a default from the environment. */
export interface NotifierOptions {
  readonly fetch?: typeof fetch;
  readonly log?: Logger;
  readonly webhookAttempts?: number;
  readonly webhookBudgetMs?: number;
  /** Where the mapping's pulled runs are read for the startup comparison; none, none shown. */
  readonly store?: RunStore;
}

/**
 * The real notifier: publishes to `topic` (a name in `project`, or `projects/P/topics/T`), then
 * posts to `PUSHRUN_WEBHOOK_URL` if set, with the startup comparison read from `store`. The
 * topic is the contract and a failed publish throws; the webhook is a courtesy, tried within
 * a time budget and then logged, so that it can never cause a second topic message.
 * `PUBSUB_EMULATOR_HOST` in `env` points the client at the emulator.
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
        const median =
          options.store &&
          (await pulledStartupMedianOf(record, options.store, log));
        await postWebhook(record, webhookUrl, {
          fetch: options.fetch,
          log,
          attempts: options.webhookAttempts,
          budgetMs: options.webhookBudgetMs,
          context: {pulledStartupMedianSeconds: median},
        });
      }
    },
  };
}
