/**
 * The config the functions use (DESIGN.md "Live config"): the newest stored version, looked
 * for at most every `PUSHRUN_CONFIG_TTL`, else the bundled file while no version exists.
 * A read that fails keeps the config in memory (with none, the event is retried); a stored
 * version that does not validate is refused, logged once, and the last good one stays.
 */
import {TransientError, errorMessage} from '../errors';
import type {Logger} from '../log';
import type {ConfigVersion} from '../runs/record';
import {readContent, versionFileName} from './content';
import {formatProblem} from './source';
import type {PushrunConfig} from './types';
import type {ConfigVersionReader, StoredVersion} from './versions';

/** A whole config and the version it is: every event uses one, never a mix of two. */
export interface LiveConfig {
  readonly config: PushrunConfig;
  readonly version: ConfigVersion;
}

/** Gives the config an event should use. */
export interface ConfigSource {
  /** Throws TransientError when no config can be had (no config in memory and the store down). */
  current(): Promise<LiveConfig>;
}

/** Always the same config: a file named with `--config`, tests, the bundled file alone. */
export function fixedConfigSource(
  config: PushrunConfig,
  version: ConfigVersion = 'bundled',
): ConfigSource {
  const live = {config, version};
  return {current: async () => live};
}

/** What the live source reads from. */
export interface LiveSourceOptions {
  readonly versions: ConfigVersionReader;
  /** The bundled file's config (already read), used while no version exists. */
  readonly bundled: () => PushrunConfig;
  readonly ttlMs: number;
  readonly log: Logger;
  /** Milliseconds now; tests move time. */
  readonly clock?: () => number;
  /** How long a look may take while a config is held (HELD_READ_TIMEOUT_MS). */
  readonly heldReadTimeoutMs?: number;
}

// How far back a cold instance looks for a good version when the newest ones are refused.
const LOOK_BACK = 20;
/** How long an event waits on a look for a newer version while it holds a config already. */
export const HELD_READ_TIMEOUT_MS = 3000;

/** The live config, read from `versions` at most every `ttlMs`. */
export function makeLiveConfigSource(opts: LiveSourceOptions): ConfigSource {
  const {versions, log, ttlMs} = opts;
  const clock = opts.clock ?? Date.now;
  const refused = new Set<number>();
  let held: LiveConfig | undefined;
  let checkedAt = -Infinity;
  let pending: Promise<LiveConfig> | undefined;

  /** The version's config, or undefined (logged once per version) when it does not validate. */
  const use = (v: StoredVersion): LiveConfig | undefined => {
    if (refused.has(v.version)) return undefined;
    const file = versionFileName(v.version);
    let problems: string[];
    try {
      const reading = readContent(v.content, file);
      if (reading.config) return {config: reading.config, version: v.version};
      problems = reading.errors.map(formatProblem);
    } catch (e) {
      problems = [`${file}:1:1 unreadable stored version: ${errorMessage(e)}`];
    }
    refused.add(v.version);
    log.error(
      `live config version ${v.version} is invalid: not used, ${held ? `version ${held.version} stays` : 'looking for an older one'}`,
      {configVersion: v.version, problems},
    );
    return undefined;
  };

  const lastGood = async (below: number): Promise<LiveConfig> => {
    for (let n = below; n >= 1 && n > below - LOOK_BACK; n--) {
      const v = refused.has(n) ? undefined : await versions.get(n);
      const live = v && use(v);
      if (live) return live;
    }
    throw new TransientError(
      `no valid live config version at or below ${below}`,
    );
  };

  const look = async (): Promise<LiveConfig> => {
    if (!held) {
      // Cold: one read brings the newest version with its content.
      const newest = await versions.newestContent();
      if (!newest) return {config: opts.bundled(), version: 'bundled'};
      return use(newest) ?? lastGood(newest.version - 1);
    }
    const newest = await versions.newest();
    if (!newest) return {config: opts.bundled(), version: 'bundled'};
    if (newest.version === held.version || refused.has(newest.version))
      return held;
    const v = await versions.get(newest.version);
    return (v && use(v)) ?? held;
  };

  const refresh = async (): Promise<LiveConfig> => {
    try {
      // A store that stops answering must not hold events up: the config in memory serves.
      held = held
        ? await withTimeout(
            look(),
            opts.heldReadTimeoutMs ?? HELD_READ_TIMEOUT_MS,
          )
        : await look();
    } catch (e) {
      if (!held) {
        throw e instanceof TransientError
          ? e
          : new TransientError(
              `could not read the live config: ${errorMessage(e)}`,
              {cause: e},
            );
      }
      log.warn(
        `could not read the live config: version ${held.version} stays`,
        {configVersion: held.version, error: errorMessage(e)},
      );
    }
    checkedAt = clock();
    return held;
  };

  return {
    current() {
      if (held && clock() - checkedAt < ttlMs) return Promise.resolve(held);
      // Concurrent events share one read.
      pending ??= refresh().finally(() => (pending = undefined));
      return pending;
    },
  };
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
