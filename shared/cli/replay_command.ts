/**
 * `pushrun replay IMAGE@DIGEST [--mapping M] [--config F]`: the launch path for an image, as if
 * it had just been pushed: same matching, verdict, job and record as `onImagePush`, and the
 * same job id, so replaying a push that already ran starts nothing new. Exit 0 handled,
 * 1 a run failed or the config is invalid, 2 could not tell (bad reference, a fault to retry).
 */
import type {Command} from 'commander';
import {ConfigError, TransientError, errorMessage} from '../errors';
import type {ImagePush} from '../events';
import {parseImageRef, type ImageRef} from '../image_ref';
import type {LaunchOutcome} from '../launch';
import type {Deps, DepsOverrides} from '../deps';
import type {Settings} from '../settings';
import {lazy, type CliContext, type CommandModule} from './context';

// The launch path and its adapters are loaded when the command runs.
const launch = lazy(() => require('../launch') as typeof import('../launch'));
const wiring = lazy(() => require('../deps') as typeof import('../deps'));
const live = lazy(
  () => require('../config/live') as typeof import('../config/live'),
);

/** How replay builds its dependencies; tests pass in-memory stores and fakes. */
export type ReplayDepsFactory = (settings: Settings) => Deps;

/** One line per mapping's outcome. */
export function formatOutcome(o: LaunchOutcome): string {
  switch (o.kind) {
    case 'launched':
      return `✔ ${o.mapping}: job ${o.jobId} created (${o.streaming ? 'streaming' : 'no streaming'})`;
    case 'exists':
      return `✔ ${o.mapping}: job ${o.jobId} exists already: nothing new started`;
    case 'skipped':
      return `– ${o.mapping}: skipped: ${o.reason}`;
    case 'failed':
      return `✘ ${o.mapping}: failed: ${o.error}`;
  }
}

async function runReplay(
  image: string,
  opts: {mapping?: string; config?: string},
  ctx: CliContext,
  factory: ReplayDepsFactory,
): Promise<void> {
  const fail = (code: number, message: string) => {
    ctx.err(`pushrun replay: ${message}\n`);
    ctx.setExit(code);
  };
  let ref: ImageRef;
  try {
    ref = parseImageRef(image);
  } catch (e) {
    return fail(2, errorMessage(e));
  }
  if (!ref.digest)
    return fail(2, `${image} names no digest: replay takes IMAGE@sha256:…`);
  let deps: Deps;
  try {
    const settings = ctx.settings();
    deps = factory(
      opts.config ? {...settings, configFile: opts.config} : settings,
    );
  } catch (e) {
    if (e instanceof ConfigError) {
      e.problems.forEach(p => ctx.err(p + '\n'));
      return fail(1, e.message);
    }
    throw e;
  }
  // The live version the functions would use, unless a file is named.
  let used;
  try {
    used = opts.config
      ? {config: deps.config, version: 'bundled' as const}
      : await deps.configSource.current();
  } catch (e) {
    return fail(2, errorMessage(e));
  }
  const {config, version} = used;
  ctx.out(
    `config: ${typeof version === 'number' ? `live version ${version}` : `file ${config.file}`}\n`,
  );
  if (opts.mapping && !config.mappings.some(m => m.name === opts.mapping)) {
    return fail(2, `no mapping named "${opts.mapping}" in ${config.file}`);
  }
  const mappings = config.mappings.filter(
    m => !opts.mapping || m.name === opts.mapping,
  );
  const {tag, ...pinned} = ref;
  const push: ImagePush = {
    eventId: `replay-${Date.now()}`,
    digestRef: pinned,
    ...(tag !== undefined && {tag}),
    publishedAt: deps.now(),
  };
  let outcomes: LaunchOutcome[];
  try {
    outcomes = await launch().launchRuns(push, {
      ...deps,
      configSource: live().fixedConfigSource({...config, mappings}, version),
    });
  } catch (e) {
    return fail(e instanceof TransientError ? 2 : 1, errorMessage(e));
  }
  if (outcomes.length === 0) ctx.out('no mapping matches: nothing to start\n');
  outcomes.forEach(o => ctx.out(formatOutcome(o) + '\n'));
  ctx.setExit(outcomes.some(o => o.kind === 'failed') ? 1 : 0);
}

/** Builds the `replay` command module; `overrides` replace adapters in tests. */
export function replayCommand(overrides: DepsOverrides = {}): CommandModule {
  const factory: ReplayDepsFactory = settings =>
    wiring().makeDeps(settings, {
      log: {
        log: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      },
      ...overrides,
    });
  return (program: Command, ctx: CliContext) => {
    program
      .command('replay')
      .description(
        'Run the launch path for IMAGE@DIGEST as if it had just been pushed.',
      )
      .argument(
        '<image>',
        'image reference pinned by digest, optionally with its tag',
      )
      .option('--mapping <name>', 'only this mapping')
      .option(
        '--config <file>',
        'use this file (default: the live version, else $PUSHRUN_CONFIG or config/pushrun.yaml)',
      )
      .action((image: string, opts: {mapping?: string; config?: string}) =>
        runReplay(image, opts, ctx, factory),
      );
  };
}

/** Registers `replay` with the real adapters. */
export const registerReplayCommand: CommandModule = replayCommand();
