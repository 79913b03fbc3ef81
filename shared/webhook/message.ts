/**
 * What a person is told about a finished run, once, as parts: the plain text and the Chat and
 * Slack cards (cards.ts) are each laid out from the same `RunMessage`.
 */
import {configVersionText} from '../runs/config_version';
import {humanizeSeconds, spokenSeconds} from '../duration';
import {
  RunRecord,
  recordConsoleUrl,
  secondsBetween,
  shortDigest,
} from '../runs/record';
import {startupSeconds} from '../runs/stats';

/** What the store knows beyond the record itself (see shared/runs/peer_startup.ts). */
export interface RunContext {
  /** The median startup of this mapping's recent pulled runs, in seconds. */
  readonly pulledStartupMedianSeconds?: number;
}

/** One labelled line: `Streaming: yes`, `Why skipped: …`. */
export interface MessageFact {
  readonly label: string;
  readonly text: string;
}

/** A run's message as parts, before any layout. */
export interface RunMessage {
  readonly mapping: string;
  /** `succeeded`, `was superseded`: the rest of a sentence that starts with the mapping. */
  readonly outcome: string;
  /** The image with its tag and the short digest. */
  readonly image: string;
  /** Streaming first; then why skipped or superseded, when it was. */
  readonly facts: readonly MessageFact[];
  /** Why streaming was not used, one `CODE: message` each. */
  readonly reasons: readonly string[];
  /** `push to launch 4s`, `running to end 1h 02m`. */
  readonly timings: readonly string[];
  /** `started in 41 s; this mapping's pulled runs: median 3 min 10 s`. */
  readonly startup?: string;
  /** The job in Cloud Console; absent for a skipped push. */
  readonly url?: string;
}

/** The label of the Cloud Console link or button. */
export const CONSOLE_LABEL = 'Open in Cloud Console';

/** How a run ended, as the end of a sentence starting with the mapping. */
export function outcomeText(record: RunRecord): string {
  if (record.state === 'CANCELLED' && record.supersededBy !== undefined)
    return 'was superseded';
  return OUTCOME[record.state] ?? record.state.toLowerCase();
}

const OUTCOME: Record<string, string> = {
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'was cancelled',
  SKIPPED: 'was skipped',
};

/** The parts of a run's message; `context` adds the comparison with pulled runs. */
export function runMessage(
  record: RunRecord,
  context: RunContext = {},
): RunMessage {
  const tag = record.tags[0];
  const facts: MessageFact[] = [
    {label: 'Streaming', text: streamingText(record)},
  ];
  const why = [record.skipReason, record.skipCode && `(${record.skipCode})`]
    .filter(Boolean)
    .join(' ');
  if (record.state === 'SKIPPED' && why)
    facts.push({label: 'Why skipped', text: why});
  if (record.supersededBy)
    facts.push({label: 'Superseded by', text: record.supersededBy});
  if (record.configVersion !== undefined)
    facts.push({
      label: 'Config',
      text: configVersionText(record.configVersion),
    });
  const timings = (
    [
      ['push to launch', record.pushedAt, record.launchedAt],
      ['running to end', record.startedAt, record.finishedAt],
    ] as const
  ).flatMap(([label, from, to]) => {
    const s = secondsBetween(from, to);
    return s === undefined ? [] : [`${label} ${humanizeSeconds(s)}`];
  });
  return {
    mapping: record.mapping,
    outcome: outcomeText(record),
    image: `${record.image}${tag ? ':' + tag : ''} (${shortDigest(record.digest)})`,
    facts,
    reasons: [
      ...new Set(record.streaming.reasons.map(r => `${r.code}: ${r.message}`)),
    ],
    timings,
    startup: startupLine(record, context),
    url: recordConsoleUrl(record) ?? record.consoleUrl,
  };
}

/**
 * `started in 41 s`, and `; this mapping's pulled runs: median 3 min 10 s` when there are
 * any; undefined for a run that never reached RUNNING.
 */
export function startupLine(
  record: RunRecord,
  context: RunContext = {},
): string | undefined {
  const s = startupSeconds(record);
  if (s === undefined) return undefined;
  const median = context.pulledStartupMedianSeconds;
  return (
    `started in ${spokenSeconds(s)}` +
    (median === undefined
      ? ''
      : `; this mapping's pulled runs: median ${spokenSeconds(median)}`)
  );
}

/**
 * The text a person reads about a finished run: the plain fallback of the cards, and the
 * whole message for other receivers. Chat and Slack both read `*bold*` and `<url|label>`.
 */
export function formatRunMessage(
  record: RunRecord,
  context: RunContext = {},
): string {
  const m = runMessage(record, context);
  const lines = [
    `*${m.mapping}* ${m.outcome}: ${m.image}`,
    ...m.facts.map(f => `${f.label}: ${f.text}`),
  ];
  if (m.timings.length) lines.push(`Time: ${m.timings.join(', ')}`);
  if (m.startup) lines.push(m.startup);
  if (m.url) lines.push(`<${m.url}|${CONSOLE_LABEL}>`);
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
