/**
 * The bodies posted to a webhook: a Google Chat card message (`cardsV2`) or Slack Block Kit
 * (`blocks`), each with a plain-text fallback, laid out from one RunMessage and kept under
 * each service's size limits.
 * Chat: https://developers.google.com/workspace/chat/api/reference/rest/v1/cards
 * Slack: https://api.slack.com/reference/block-kit/blocks
 */
import type {RunRecord} from '../runs/record';
import {
  CONSOLE_LABEL,
  RunContext,
  RunMessage,
  formatRunMessage,
  runMessage,
} from './message';

/** Webhook dialects: Google Chat, Slack, and anything else (which gets Slack's body). */
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

/**
 * Size limits, from the services' references: a Chat message is at most 32,000 bytes
 * (spaces.messages.create) and a card at most 100 widgets (Card); Slack truncates `text`
 * past 40,000 characters, takes at most 50 blocks, 3,000 characters of section text, 150 of
 * header text, 10 context elements, and button text of 75 and URLs of 3,000 characters.
 * CHAT_TITLE and MAX_REASONS are ours: a header is one line, and the reasons are examples.
 */
export const LIMITS = {
  chatMessageBytes: 32_000,
  chatTitle: 200,
  slackText: 40_000,
  slackSection: 3_000,
  slackHeader: 150,
  slackContext: 10,
  slackButtonUrl: 3_000,
  maxReasons: 10,
} as const;

/** The JSON body posted to a webhook of `kind`. */
export function webhookBody(
  record: RunRecord,
  kind: WebhookKind,
  context: RunContext = {},
): Record<string, unknown> {
  const text = formatRunMessage(record, context);
  const message = runMessage(record, context);
  return kind === 'google-chat'
    ? chatBody(message, text, record.id)
    : slackBody(message, text);
}

/**
 * A Chat message: `text` is the one-line summary shown above the card, `fallbackText` the
 * whole message where cards cannot be shown (notifications), `cardsV2` the card. Should the
 * whole exceed the size limit, the card goes and the text stays.
 */
export function chatBody(
  m: RunMessage,
  text: string,
  runId: string,
): Record<string, unknown> {
  const summary = text.split('\n')[0];
  const fallbackText = truncate(text, LIMITS.chatMessageBytes / 4);
  const decorated = (topLabel: string, value: string) => ({
    decoratedText: {topLabel, text: html(value), wrapText: true},
  });
  const widgets: unknown[] = [
    decorated('Image', m.image),
    ...m.facts.map(f => decorated(f.label, f.text)),
  ];
  if (m.reasons.length)
    widgets.push({
      textParagraph: {text: html(listed(m.reasons).join('\n'))},
    });
  if (m.timings.length) widgets.push(decorated('Time', m.timings.join(', ')));
  if (m.startup) widgets.push(decorated('Startup', m.startup));
  const sections: unknown[] = [{widgets}];
  if (m.url)
    sections.push({
      widgets: [
        {
          buttonList: {
            buttons: [{text: CONSOLE_LABEL, onClick: {openLink: {url: m.url}}}],
          },
        },
      ],
    });
  const body = {
    text: summary,
    fallbackText,
    cardsV2: [
      {
        cardId: `run-${runId}`,
        card: {
          header: {
            title: truncate(`${m.mapping} ${m.outcome}`, LIMITS.chatTitle),
            // The image has its own line below; the run id is what people search for.
            subtitle: truncate(runId, LIMITS.chatTitle),
          },
          sections,
        },
      },
    ],
  };
  return byteLength(body) <= LIMITS.chatMessageBytes
    ? body
    : {text: truncate(text, LIMITS.chatMessageBytes / 4)};
}

/**
 * A Slack message: `blocks` (header, the image and facts, why streaming was not used, the
 * timings as context, the console button) with `text` as the notification fallback.
 */
export function slackBody(
  m: RunMessage,
  text: string,
): Record<string, unknown> {
  const mrkdwn = (t: string) => ({type: 'mrkdwn', text: t});
  const section = (t: string) => ({
    type: 'section',
    text: mrkdwn(truncate(t, LIMITS.slackSection)),
  });
  const blocks: unknown[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: truncate(`${m.mapping} ${m.outcome}`, LIMITS.slackHeader),
      },
    },
    section(
      [
        `*Image:* ${slack(m.image)}`,
        ...m.facts.map(f => `*${f.label}:* ${slack(f.text)}`),
      ].join('\n'),
    ),
  ];
  if (m.reasons.length)
    blocks.push(section(listed(m.reasons).map(slack).join('\n')));
  const context = [
    ...(m.timings.length ? [`Time: ${m.timings.join(', ')}`] : []),
    ...(m.startup ? [m.startup] : []),
  ];
  if (context.length)
    blocks.push({
      type: 'context',
      elements: context
        .slice(0, LIMITS.slackContext)
        .map(t => mrkdwn(truncate(slack(t), LIMITS.slackSection))),
    });
  if (m.url && m.url.length <= LIMITS.slackButtonUrl)
    blocks.push({
      type: 'actions',
      elements: [
        {
          type: 'button',
          text: {type: 'plain_text', text: CONSOLE_LABEL},
          url: m.url,
        },
      ],
    });
  return {text: truncate(text, LIMITS.slackText), blocks};
}

/** At most MAX_REASONS lines, with a count of the rest. */
function listed(reasons: readonly string[]): string[] {
  const shown = reasons.slice(0, LIMITS.maxReasons);
  const rest = reasons.length - shown.length;
  return rest > 0 ? [...shown, `… and ${rest} more`] : shown;
}

/** `text` cut to `max` characters, the cut marked with an ellipsis. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

// Chat card text is HTML-ish, Slack's is mrkdwn: both need &, < and > escaped, and Slack
// wants nothing else (https://api.slack.com/reference/surfaces/formatting#escaping).
function html(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\n/g, '<br>');
}

function slack(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

function byteLength(body: unknown): number {
  return Buffer.byteLength(JSON.stringify(body), 'utf8');
}
