/**
 * `pushrun config apply|diff|history|show|rollback` (DESIGN.md "Live config"): the mappings
 * people edit, stored as numbered versions in Firestore that the functions follow within
 * `PUSHRUN_CONFIG_TTL`. The store is reached as `pushrun runs` reaches it.
 */
import type {Command} from 'commander';
import type {StoredVersion} from '../config/versions';
import {errorMessage} from '../errors';
import {lazy, type CliContext} from './context';
import {formatHistory, historyJson} from './config_history';
import {
  checkReachable,
  runApply,
  runDiff,
  runRollback,
  type LiveCommandDeps,
} from './config_apply';
import {liveVersions, storeUnreachable} from './tool_config';

export {APPLY_EXIT, DIFF_EXIT, type LiveCommandDeps} from './config_apply';

const contents = lazy(
  () => require('../config/content') as typeof import('../config/content'),
);

/** The real store, identity and terminal. */
export const DEFAULT_LIVE_COMMAND_DEPS: LiveCommandDeps = {
  versions: liveVersions,
  unreachable: storeUnreachable,
  identity: settings =>
    (
      require('../config/applied_by') as typeof import('../config/applied_by')
    ).callerIdentity(settings),
  interactive: () => Boolean(process.stdin.isTTY && process.stderr.isTTY),
  confirm: async question => {
    const readline = require('node:readline') as typeof import('node:readline');
    const rl = readline.createInterface({
      input: process.stdin,
      output: process.stderr,
    });
    const answer = await new Promise<string>(done =>
      rl.question(question, done),
    );
    rl.close();
    return /^y(es)?$/i.test(answer.trim());
  },
  now: () => new Date(),
};

async function runHistory(
  opts: {limit: string; json?: boolean},
  ctx: CliContext,
  deps: LiveCommandDeps,
): Promise<void> {
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    ctx.err('pushrun config history: --limit must be a positive integer\n');
    return ctx.setExit(2);
  }
  try {
    await checkReachable(ctx, deps);
    const list = await deps.versions(ctx.settings()).list(limit);
    ctx.out(
      opts.json
        ? JSON.stringify(historyJson(list), null, 2) + '\n'
        : formatHistory(list),
    );
    ctx.setExit(0);
  } catch (e) {
    ctx.err(`pushrun config history: ${errorMessage(e)}\n`);
    ctx.setExit(2);
  }
}

async function runShow(
  opts: {version?: string},
  ctx: CliContext,
  deps: LiveCommandDeps,
): Promise<void> {
  const n = opts.version === undefined ? undefined : Number(opts.version);
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) {
    ctx.err(`pushrun config show: "${opts.version}" is not a version number\n`);
    return ctx.setExit(2);
  }
  const versions = deps.versions(ctx.settings());
  let v: StoredVersion | undefined;
  try {
    await checkReachable(ctx, deps);
    v =
      n === undefined ? await versions.newestContent() : await versions.get(n);
  } catch (e) {
    ctx.err(`pushrun config show: ${errorMessage(e)}\n`);
    return ctx.setExit(2);
  }
  if (!v) {
    ctx.err(
      n === undefined
        ? 'no live version: the functions use the bundled file\n'
        : `there is no version ${n}\n`,
    );
    return ctx.setExit(1);
  }
  ctx.out(contents().contentYaml(v.content));
  ctx.setExit(0);
}

/** Adds apply, diff, history, show and rollback under `pushrun config`. */
export function addLiveCommands(
  config: Command,
  ctx: CliContext,
  deps: LiveCommandDeps = DEFAULT_LIVE_COMMAND_DEPS,
): void {
  const fileArg = [
    '[file]',
    'the config file (default: $PUSHRUN_CONFIG, else config/pushrun.yaml)',
  ] as const;
  config
    .command('apply')
    .description(
      'Validate FILE, show what changes, and store it as the next live version (exit 0 applied or nothing to apply, 1 invalid, 2 not applied, 3 a newer version came first).',
    )
    .argument(...fileArg)
    .option('--yes', 'apply without asking')
    .option('--message <text>', 'say why, for history')
    .action(
      (file: string | undefined, opts: {yes?: boolean; message?: string}) =>
        runApply(file, opts, ctx, deps),
    );
  config
    .command('diff')
    .description(
      'Show what FILE changes against the live version, mapping by mapping (exit 0 same, 1 differs, 2 could not tell).',
    )
    .argument(...fileArg)
    .action((file: string | undefined) => runDiff(file, ctx, deps));
  config
    .command('history')
    .description('List the live versions, newest first.')
    .option('--limit <n>', 'at most this many versions', '20')
    .option('--json', 'print a JSON array')
    .action((opts: {limit: string; json?: boolean}) =>
      runHistory(opts, ctx, deps),
    );
  config
    .command('show')
    .description(
      'Print the live version (or --version N) as YAML; saved to a file, it applies as "nothing to apply".',
    )
    .option('--version <n>', 'this version instead of the live one')
    .action((opts: {version?: string}) => runShow(opts, ctx, deps));
  config
    .command('rollback')
    .description("Store VERSION's content as a new live version.")
    .argument('<version>', 'the version to bring back')
    .option('--yes', 'apply without asking')
    .action((version: string, opts: {yes?: boolean}) =>
      runRollback(version, opts, ctx, deps),
    );
}
