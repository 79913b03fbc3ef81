/**
 * `pushrun runs stats [--mapping M] [--since DURATION] [--json]` (DESIGN.md "Guardrails and
 * proof"): per mapping, how runs went and what streaming saved at startup.
 */
import type {Command} from 'commander';
import {humanizeSeconds, parseDuration} from '../duration';
import {errorMessage} from '../errors';
import {
  RunStatsAccumulator,
  successRate,
  type MappingStats,
  type Percentiles,
  type RunStats,
  type TimingStats,
} from '../runs/stats';
import type {RunStore} from '../runs/store';
import type {Settings} from '../settings';
import type {CliContext} from './context';
import {formatTable, formatTime} from './table';

/** The window when `--since` is not given. */
export const DEFAULT_STATS_SINCE = '7d';

/** How many records one store read brings; the report keeps only numbers, not records. */
export const STATS_PAGE_SIZE = 500;

const EXIT_ERROR = 2;

interface StatsOptions {
  mapping?: string;
  since?: string;
  json?: boolean;
}

/** Adds `stats` under the `runs` command, reading records from `store`. */
export function registerRunsStats(
  runs: Command,
  store: (settings: Settings) => RunStore,
  ctx: CliContext,
  now: () => Date = () => new Date(),
): void {
  runs
    .command('stats')
    .description(
      'How runs went per mapping, and startup of streamed against pulled runs',
    )
    .option('--mapping <name>', 'only this mapping')
    .option(
      '--since <duration>',
      `runs created in this window, like 12h or 30d (default ${DEFAULT_STATS_SINCE})`,
    )
    .option('--json', 'print JSON')
    .action(async (opts: StatsOptions) => {
      // `runs --mapping M stats` puts the option on the parent: take it from there too.
      const parent = runs.opts<StatsOptions>();
      const mapping = opts.mapping ?? parent.mapping;
      let windowMs: number;
      try {
        windowMs = parseDuration(opts.since ?? DEFAULT_STATS_SINCE);
      } catch (e) {
        return fail(ctx, `--since: ${errorMessage(e)}`);
      }
      const since = new Date(now().getTime() - windowMs);
      let stats: RunStats;
      try {
        stats = await readStats(store(ctx.settings()), since, mapping);
      } catch (e) {
        return fail(ctx, `could not read runs: ${errorMessage(e)}`);
      }
      ctx.out(
        (opts.json ?? parent.json)
          ? JSON.stringify(stats, null, 2) + '\n'
          : formatStats(stats),
      );
    });
}

/** The report over the records created since `since`, read page by page. */
export async function readStats(
  store: RunStore,
  since: Date,
  mapping?: string,
  pageSize = STATS_PAGE_SIZE,
): Promise<RunStats> {
  const acc = new RunStatsAccumulator(mapping === undefined ? [] : [mapping]);
  for (let after: Parameters<RunStore['listSince']>[0]['after']; ;) {
    const page = await store.listSince({
      since,
      mapping,
      limit: pageSize,
      after,
    });
    for (const r of page) acc.add(r);
    if (page.length < pageSize) break;
    after = page[page.length - 1];
  }
  return acc.result(since);
}

/** The readable report: outcomes per mapping, then timings of streamed and pulled runs. */
export function formatStats(stats: RunStats): string {
  const head = `Runs since ${formatTime(new Date(stats.since))}\n`;
  if (!stats.mappings.length) return head + 'No runs.\n';
  const outcomes = formatTable(
    ['MAPPING', 'RUNS', 'SUCCESS', 'STATES'],
    stats.mappings.map(m => [
      m.mapping,
      String(m.runs),
      percent(successRate(m.states)),
      Object.entries(m.states)
        .map(([state, n]) => `${state} ${n}`)
        .join(', ') || '-',
    ]),
  );
  const timings = formatTable(
    [
      'MAPPING',
      'STREAMING',
      'RUNS',
      'STARTUP P50',
      'STARTUP P90',
      'RUN P50',
      'RUN P90',
    ],
    stats.mappings.flatMap(m => [
      timingRow(m.mapping, 'streamed', m.streamed),
      timingRow(m.mapping, 'pulled', m.pulled),
    ]),
  );
  return [head, outcomes, timings, savedLines(stats.mappings)].join('\n');
}

function timingRow(mapping: string, how: string, t: TimingStats): string[] {
  return [
    mapping,
    how,
    String(t.runs),
    ...seconds(t.startupSeconds),
    ...seconds(t.runSeconds),
  ];
}

function seconds(p: Percentiles): string[] {
  return [p.p50, p.p90].map(x => (x === null ? '-' : humanizeSeconds(x)));
}

// A saving is the pulled median less the streamed one; a negative one is said as such.
function savedLines(mappings: readonly MappingStats[]): string {
  return (
    mappings
      .map(m => {
        const saved = m.startupSavedSeconds;
        if (saved === null)
          return `${m.mapping}: no saving to show (needs streamed and pulled runs that started)`;
        const how =
          saved >= 0
            ? `${humanizeSeconds(saved)} faster`
            : `${humanizeSeconds(-saved)} slower`;
        return `${m.mapping}: streamed runs started ${how} than pulled ones (median)`;
      })
      .join('\n') + '\n'
  );
}

function percent(rate: number | null): string {
  return rate === null ? '-' : `${Math.round(rate * 100)}%`;
}

function fail(ctx: CliContext, message: string) {
  ctx.err(message + '\n');
  ctx.setExit(EXIT_ERROR);
}
