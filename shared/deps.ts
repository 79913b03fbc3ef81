/**
 * Wiring for the functions and the CLI: the settings and the config, read once, and one adapter
 * per outside system. A plain object built once per instance: each adapter loads its client
 * library and creates its client on first use, so building the object costs nothing.
 */
import {makeBatchJobs} from './batch/client';
import type {BatchJobs} from './batch/jobs';
import {loadConfig, type PushrunConfig} from './config';
import {makeConfigVersionReader} from './config/rest_versions';
import {
  fixedConfigSource,
  makeLiveConfigSource,
  type ConfigSource,
} from './config/live';
import {Logger, makeLogger} from './log';
import {makeNotifier, type Notifier} from './notify';
import {makeRegistry, type Registry} from './registry';
import {makeRunStore} from './runs/firestore_store';
import type {RunStore} from './runs/store';
import {parseSettings, type Settings} from './settings';

/** Everything the launch and completion paths need, built once per instance. */
export interface Deps {
  readonly settings: Settings;
  /** The bundled file's config: the live config's fallback while no version is stored. */
  readonly config: PushrunConfig;
  /** The config each event uses: the newest live version, looked for every `PUSHRUN_CONFIG_TTL`. */
  readonly configSource: ConfigSource;
  /** The project jobs, runs and topics live in (`settings.project`). */
  readonly project: string;
  /** The identity jobs run as when their template names none. */
  readonly jobServiceAccount?: string;
  readonly log: Logger;
  readonly maxEventAgeMs: number;
  readonly reconcileAfterMs: number;
  readonly registry: Registry;
  readonly batch: BatchJobs;
  readonly store: RunStore;
  readonly notifier: Notifier;
  readonly now: () => Date;
  /** This instance's launches, under way or recently done, shared by deliveries of one message. */
  readonly inFlight: Map<string, Promise<unknown>>;
}

/** What a caller may set instead of the real adapters (tests, the sandbox, the CLI). */
export type DepsOverrides = Partial<Omit<Deps, 'settings'>>;

/**
 * Reads the config now (a bad config throws here) and builds the adapters, which connect
 * nothing until first used.
 */
export function makeDeps(
  settings: Settings = parseSettings(),
  overrides: DepsOverrides = {},
): Deps {
  const config = overrides.config ?? loadConfig(settings.configFile);
  const project = overrides.project ?? settings.project;
  const log = overrides.log ?? makeLogger();
  // The notifier reads the mapping's pulled runs from the same store the runs are in.
  const store = overrides.store ?? makeRunStore(settings);
  return {
    settings,
    config,
    project,
    ...(settings.jobServiceAccount && {
      jobServiceAccount: settings.jobServiceAccount,
    }),
    log,
    maxEventAgeMs: settings.maxEventAgeMs,
    reconcileAfterMs: settings.reconcileAfterMs,
    now: () => new Date(),
    registry: makeRegistry(settings),
    batch: makeBatchJobs(settings),
    store,
    // A config handed in is used as it is; otherwise the functions follow the live versions.
    configSource: overrides.config
      ? fixedConfigSource(config)
      : makeLiveConfigSource({
          versions: makeConfigVersionReader({...settings, project}),
          bundled: () => config,
          ttlMs: settings.configTtlMs,
          log,
        }),
    // The topic is read once, from the bundled file: deploy.sh creates it and grants publishing
    // on it, so a new topic needs a deploy anyway.
    notifier: makeNotifier(
      config.notifications.topic,
      {...settings, project},
      {store},
    ),
    inFlight: new Map(),
    ...overrides,
  };
}
