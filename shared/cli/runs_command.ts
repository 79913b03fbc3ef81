/**
 * `pushrun runs [--mapping M] [--image I] [--state S] [--limit N] [--json]` lists run records,
 * newest first; `pushrun runs show ID [--json]` prints one with its state history;
 * `pushrun runs stats` is in runs_stats_command.ts.
 */
import type {Command} from 'commander';
import {errorMessage} from '../errors';
import {humanizeSeconds, streamingText} from '../notify';
import {
  RUN_STATES,
  RunRecord,
  isRunState,
  recordConsoleUrl,
  shortDigest,
} from '../runs/record';
import type {RunStore} from '../runs/store';
import {configVersionText} from '../runs/config_version';
import type {Settings} from '../settings';
import type {CliContext, CommandModule} from './context';
import {registerRunsStats} from './runs_stats_command';
import {formatTable, formatTime} from './table';

/** What the command needs from outside; tests pass a memory store. */
export interface RunsCommandDeps {
  readonly store: (settings: Settings) => RunStore;
}

/** The Firestore store, loaded only when the command runs. */
export const DEFAULT_RUNS_COMMAND_DEPS: RunsCommandDeps = {
  store: settings =>
    (
      require('../runs/firestore_store') as typeof import('../runs/firestore_store')
    ).makeRunStore(settings),
};

/** Exit codes: 0 done, 1 no such run, 2 bad arguments or the store could not be read. */
export const RUNS_EXIT = {ok: 0, notFound: 1, error: 2} as const;

interface ListOptions {
  mapping?: string;
  image?: string;
  state?: string;
  limit?: string;
  json?: boolean;
}

/** The `runs` command module over `deps`. */
export function runsCommand(
  deps: RunsCommandDeps = DEFAULT_RUNS_COMMAND_DEPS,
): CommandModule {
  return (program: Command, ctx: CliContext) => {
    const runs = program
      .command('runs')
      .description('List run records, newest first')
      .option('--mapping <name>', 'only runs of this mapping')
      .option(
        '--image <image>',
        'only runs of this image (without tag or digest)',
      )
      .option(
        '--state <state>',
        `only runs in this state (${RUN_STATES.join(', ')})`,
      )
      .option('--limit <n>', 'at most this many runs', '20')
      .option('--json', 'print JSON')
      .action(async (opts: ListOptions) => listRuns(opts, deps, ctx));
    runs
      .command('show <id>')
      .description('Show one run and its state history')
      .option('--json', 'print JSON')
      .action(async (id: string, opts: {json?: boolean}) =>
        showRun(
          id,
          {json: opts.json ?? runs.opts<ListOptions>().json},
          deps,
          ctx,
        ),
      );
    registerRunsStats(runs, deps.store, ctx);
  };
}

/** The module `main` registers. */
export const registerRunsCommand: CommandModule = runsCommand();

async function listRuns(
  opts: ListOptions,
  deps: RunsCommandDeps,
  ctx: CliContext,
) {
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    return fail(
      ctx,
      `--limit must be a positive whole number, not "${opts.limit}"`,
    );
  }
  if (opts.state !== undefined && !isRunState(opts.state)) {
    return fail(
      ctx,
      `--state must be one of ${RUN_STATES.join(', ')}, not "${opts.state}"`,
    );
  }
  let records: RunRecord[];
  try {
    records = await deps.store(ctx.settings()).list({
      mapping: opts.mapping,
      image: opts.image,
      state: opts.state,
      limit,
    });
  } catch (e) {
    return fail(ctx, `could not read runs: ${errorMessage(e)}`);
  }
  ctx.out(
    opts.json
      ? JSON.stringify(records, null, 2) + '\n'
      : formatRunTable(records),
  );
}

async function showRun(
  id: string,
  opts: {json?: boolean},
  deps: RunsCommandDeps,
  ctx: CliContext,
) {
  let record: RunRecord | undefined;
  try {
    record = await deps.store(ctx.settings()).get(id);
  } catch (e) {
    return fail(ctx, `could not read run ${id}: ${errorMessage(e)}`);
  }
  if (!record) {
    ctx.err(`no run ${id}\n`);
    ctx.setExit(RUNS_EXIT.notFound);
    return;
  }
  ctx.out(
    opts.json
      ? JSON.stringify(record, null, 2) + '\n'
      : formatRunDetail(record),
  );
}

function fail(ctx: CliContext, message: string) {
  ctx.err(message + '\n');
  ctx.setExit(RUNS_EXIT.error);
}

/** The table `pushrun runs` prints: one line per run under a header. */
export function formatRunTable(records: readonly RunRecord[]): string {
  if (!records.length) return 'No runs.\n';
  const header = [
    'STARTED',
    'MAPPING',
    'IMAGE',
    'DIGEST',
    'STATE',
    'STREAMED',
    'DURATION',
  ];
  const rows = records.map(r => [
    formatTime(r.launchedAt ?? r.pushedAt ?? r.createdAt),
    r.mapping,
    imageWithTag(r),
    shortDigest(r.digest) || '-',
    stateColumn(r),
    streamedColumn(r),
    r.durationSeconds !== undefined ? humanizeSeconds(r.durationSeconds) : '-',
  ]);
  return formatTable(header, rows);
}

/** The state, and why a run was cancelled by a newer push or skipped by a rule. */
function stateColumn(r: RunRecord): string {
  if (r.supersededBy) return `${r.state} (superseded by ${r.supersededBy})`;
  if (r.skipCode) return `${r.state} (${r.skipCode})`;
  return r.state;
}

/** The readable form of `pushrun runs show ID`. */
export function formatRunDetail(r: RunRecord): string {
  const fields: [string, string | undefined][] = [
    ['mapping', r.mapping],
    ['image', imageWithTag(r)],
    ['tags', r.tags.length ? r.tags.join(', ') : undefined],
    ['digest', r.digest],
    ['state', r.state],
    [
      'skipped',
      r.skipReason && `${r.skipReason}${r.skipCode ? ` (${r.skipCode})` : ''}`,
    ],
    ['superseded by', r.supersededBy],
    [
      'config',
      r.configVersion !== undefined
        ? configVersionText(r.configVersion)
        : undefined,
    ],
    ['streaming', `${streamingText(r)} (requested: ${r.streaming.requested})`],
    ...r.streaming.reasons.map((x): [string, string] => [
      '',
      `${x.code}: ${x.message}`,
    ]),
    ['region', r.region],
    ['job', r.jobName],
    ['job uid', r.jobUid],
    ['pushed', formatTime(r.pushedAt)],
    ['launched', formatTime(r.launchedAt)],
    ['started', formatTime(r.startedAt)],
    ['finished', formatTime(r.finishedAt)],
    [
      'duration',
      r.durationSeconds !== undefined
        ? humanizeSeconds(r.durationSeconds)
        : undefined,
    ],
    [
      'tasks',
      r.taskCounts
        ? Object.entries(r.taskCounts)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')
        : undefined,
    ],
    ['notified', formatTime(r.notifiedAt)],
    ['console', recordConsoleUrl(r) ?? r.consoleUrl],
  ];
  const lines = [`Run ${r.id}`];
  for (const [k, v] of fields) {
    if (v && v !== '-') lines.push(`  ${k.padEnd(10)}  ${v}`);
  }
  lines.push('History');
  for (const h of r.history) lines.push(`  ${formatTime(h.at)}  ${h.state}`);
  if (!r.history.length) lines.push('  (none)');
  return lines.join('\n') + '\n';
}

/** `yes`, `off`, or `no: CODE,CODE` for the table. */
function streamedColumn(r: RunRecord): string {
  if (r.streaming.enabled) return 'yes';
  if (r.streaming.requested === 'off') return 'off';
  const codes = [...new Set(r.streaming.reasons.map(x => x.code))];
  return codes.length ? `no: ${codes.join(',')}` : 'no';
}

// The registry host (`LOCATION-docker.pkg.dev`) is the same on every line; the path says more.
function imageWithTag(r: RunRecord): string {
  const image = r.image.replace(/^[^/]*\.[^/]*\//, '') || '-';
  return r.tags[0] ? `${image}:${r.tags[0]}` : image;
}
