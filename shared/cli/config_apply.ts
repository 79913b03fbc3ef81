/**
 * `pushrun config apply`, `rollback` and `diff`: a config (a file, or a stored version)
 * compared with the live version, mapping by mapping, and stored as the next version.
 */
import type {
  ConfigContent,
  ConfigVersionStore,
  StoredVersion,
} from '../config/versions';
import {errorMessage, VersionTooLargeError} from '../errors';
import type {Settings} from '../settings';
import {lazy, type CliContext} from './context';
import type {StoreCheck} from './tool_config';

// The config reader, the store and the diff are loaded when a command runs.
const load = lazy(() => require('../config') as typeof import('../config'));
const contents = lazy(
  () => require('../config/content') as typeof import('../config/content'),
);
const diffs = lazy(
  () => require('../config/diff') as typeof import('../config/diff'),
);

/** Exit codes of `config apply` and `config rollback` (DESIGN.md "Live config"). */
export const APPLY_EXIT = {
  applied: 0,
  invalid: 1,
  notApplied: 2,
  conflict: 3,
} as const;
/** Exit codes of `config diff`. */
export const DIFF_EXIT = {same: 0, differs: 1, unknown: 2} as const;

/** What the commands need from outside; tests pass a memory store and a fixed terminal. */
export interface LiveCommandDeps {
  readonly versions: (settings: Settings) => ConfigVersionStore;
  /** Why the store cannot be asked (no credentials), checked before each read when set. */
  readonly unreachable?: StoreCheck;
  /** The caller's Google identity, else `unknown`. */
  readonly identity: (settings: Settings) => Promise<string>;
  /** Whether a person can answer a question (stdin and stderr are a terminal). */
  readonly interactive: () => boolean;
  /** Asks a yes/no question on the terminal. */
  readonly confirm: (question: string) => Promise<boolean>;
  readonly now: () => Date;
}

/** A config file read for applying: its content, or undefined after printing its problems. */
function readForApply(
  file: string | undefined,
  ctx: CliContext,
): {file: string; content: ConfigContent} | undefined {
  const {configFile, formatProblem} = load();
  const name = configFile(file, ctx.settings());
  const {reading, content} = contents().bundleConfig(name);
  [...reading.errors, ...reading.warnings].forEach(p =>
    ctx.err(formatProblem(p) + '\n'),
  );
  return content && {file: name, content};
}

/** The live version with content, or undefined after printing why it could not be read. */
async function readLive(
  store: ConfigVersionStore,
  ctx: CliContext,
  command: string,
  deps: LiveCommandDeps,
): Promise<{live: StoredVersion | undefined} | undefined> {
  try {
    await checkReachable(ctx, deps);
    return {live: await store.newestContent()};
  } catch (e) {
    ctx.err(
      `pushrun config ${command}: could not read the live config: ${errorMessage(e)}\n`,
    );
    return undefined;
  }
}

/** Throws, saying why, when the store cannot be asked (no credentials). */
export async function checkReachable(
  ctx: CliContext,
  deps: LiveCommandDeps,
): Promise<void> {
  const why = await deps.unreachable?.(ctx.settings());
  if (why) throw new Error(why);
}

/** What changes from `live` to `content`, as printed lines and whether anything does. */
function comparison(
  live: StoredVersion | undefined,
  content: ConfigContent,
): {text: string; same: boolean} {
  const {resolvedValue, contentDigest} = contents();
  const {diffConfigs, formatDiff} = diffs();
  const same = live?.sha256 === contentDigest(content);
  const against = live
    ? `against live version ${live.version}`
    : 'no live version yet (the functions use the bundled file)';
  const d = diffConfigs(
    live && resolvedValue(live.content),
    resolvedValue(content),
  );
  return {text: `${against}:\n${formatDiff(d)}`, same};
}

/** Stores `content` as the next version after `live`; shared by apply and rollback. */
async function store(
  content: ConfigContent,
  live: StoredVersion | undefined,
  opts: {yes?: boolean; message?: string},
  ctx: CliContext,
  deps: LiveCommandDeps,
  store: ConfigVersionStore,
): Promise<void> {
  const {contentDigest, readContent} = contents();
  const next = (live?.version ?? 0) + 1;
  if (!opts.yes) {
    if (!deps.interactive()) {
      ctx.err('not applied: no terminal to confirm on; pass --yes\n');
      return ctx.setExit(APPLY_EXIT.notApplied);
    }
    if (!(await deps.confirm(`Apply as version ${next}? [y/N] `))) {
      ctx.err('not applied\n');
      return ctx.setExit(APPLY_EXIT.notApplied);
    }
  }
  const settings = ctx.settings();
  const config = readContent(content, 'config').config!;
  let result;
  try {
    result = await store.apply(
      {
        appliedAt: deps.now(),
        appliedBy: await deps.identity(settings),
        ...(opts.message !== undefined && {message: opts.message}),
        mappings: config.mappings.map(m => m.name),
        sha256: contentDigest(content),
        content,
      },
      live?.version ?? 0,
    );
  } catch (e) {
    ctx.err(`not applied: ${errorMessage(e)}\n`);
    return ctx.setExit(
      e instanceof VersionTooLargeError
        ? APPLY_EXIT.invalid
        : APPLY_EXIT.notApplied,
    );
  }
  if (result.kind === 'conflict') {
    const n = result.newer;
    ctx.err(
      `not applied: version ${n.version} was applied by ${n.appliedBy} at ${n.appliedAt.toISOString()} after this apply read ${live ? `version ${live.version}` : 'the config'}; run pushrun config diff and apply again\n`,
    );
    return ctx.setExit(APPLY_EXIT.conflict);
  }
  ctx.out(`applied as version ${result.version}\n`);
  ctx.setExit(APPLY_EXIT.applied);
}

/** `config apply [FILE] [--yes] [--message TEXT]`. */
export async function runApply(
  file: string | undefined,
  opts: {yes?: boolean; message?: string},
  ctx: CliContext,
  deps: LiveCommandDeps,
): Promise<void> {
  const read = readForApply(file, ctx);
  if (!read) return ctx.setExit(APPLY_EXIT.invalid);
  const versions = deps.versions(ctx.settings());
  const got = await readLive(versions, ctx, 'apply', deps);
  if (!got) return ctx.setExit(APPLY_EXIT.notApplied);
  const {text, same} = comparison(got.live, read.content);
  if (same) {
    ctx.out(
      `nothing to apply: ${read.file} is live version ${got.live!.version}\n`,
    );
    return ctx.setExit(APPLY_EXIT.applied);
  }
  ctx.out(text);
  await store(read.content, got.live, opts, ctx, deps, versions);
}

/** `config rollback VERSION [--yes]`. */
export async function runRollback(
  version: string,
  opts: {yes?: boolean},
  ctx: CliContext,
  deps: LiveCommandDeps,
): Promise<void> {
  const n = Number(version);
  if (!Number.isInteger(n) || n < 1) {
    ctx.err(`pushrun config rollback: "${version}" is not a version number\n`);
    return ctx.setExit(APPLY_EXIT.notApplied);
  }
  const versions = deps.versions(ctx.settings());
  const got = await readLive(versions, ctx, 'rollback', deps);
  if (!got) return ctx.setExit(APPLY_EXIT.notApplied);
  let old: StoredVersion | undefined;
  try {
    old = await versions.get(n);
  } catch (e) {
    ctx.err(`pushrun config rollback: ${errorMessage(e)}\n`);
    return ctx.setExit(APPLY_EXIT.notApplied);
  }
  if (!old) {
    ctx.err(`pushrun config rollback: there is no version ${n}\n`);
    return ctx.setExit(APPLY_EXIT.invalid);
  }
  const {formatProblem} = load();
  const {readContent, versionFileName} = contents();
  const reading = readContent(old.content, versionFileName(n));
  if (!reading.config) {
    reading.errors.forEach(p => ctx.err(formatProblem(p) + '\n'));
    ctx.err(`not applied: version ${n} is not valid for this pushrun\n`);
    return ctx.setExit(APPLY_EXIT.invalid);
  }
  const {text, same} = comparison(got.live, old.content);
  if (same) {
    ctx.out(
      `nothing to apply: version ${n} has the content of live version ${got.live!.version}\n`,
    );
    return ctx.setExit(APPLY_EXIT.applied);
  }
  ctx.out(text);
  const message = `rollback to version ${n}`;
  await store(old.content, got.live, {...opts, message}, ctx, deps, versions);
}

/** `config diff [FILE]`. */
export async function runDiff(
  file: string | undefined,
  ctx: CliContext,
  deps: LiveCommandDeps,
): Promise<void> {
  const read = readForApply(file, ctx);
  if (!read) return ctx.setExit(DIFF_EXIT.unknown);
  const got = await readLive(deps.versions(ctx.settings()), ctx, 'diff', deps);
  if (!got) return ctx.setExit(DIFF_EXIT.unknown);
  const {text, same} = comparison(got.live, read.content);
  ctx.out(
    same ? `no changes against live version ${got.live!.version}\n` : text,
  );
  ctx.setExit(same ? DIFF_EXIT.same : DIFF_EXIT.differs);
}
