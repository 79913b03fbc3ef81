/**
 * Wiring for the functions and the CLI: the config, read once, and each outside system's
 * adapter, created lazily on first use (cold start matters for Cloud Functions).
 */
import type {BatchJobs} from './batch';
import type {CompletionDeps} from './complete';
import type {PushrunConfig} from './config';
import type {Notifier} from './notify';
import type {Registry} from './registry';
import type {RunStore} from './runs/store';
import {loadConfig} from './config';
import {parseDuration} from './duration';
import {Logger, makeLogger} from './log';

/** Everything the launch and completion paths need, built once per instance. */
export interface Deps {
  readonly config: PushrunConfig;
  readonly project: string;
  readonly jobServiceAccount?: string;
  readonly log: Logger;
  readonly maxEventAgeMs: number;
  readonly reconcileAfterMs: number;
  readonly registry: Registry;
  readonly batch: BatchJobs;
  readonly store: RunStore;
  readonly notifier: Notifier;
  readonly now: () => Date;
}

/** What a caller may set instead of the real adapters (tests, the sandbox). */
export type DepsOverrides = Partial<Omit<Deps, 'config'>> & {
  config?: PushrunConfig;
};

/**
 * Reads the environment and the config now (a bad config throws here) and defers every
 * client until it is first used. Modules of unused clients are never loaded.
 */
export function makeDeps(
  env: NodeJS.ProcessEnv = process.env,
  overrides: DepsOverrides = {},
): Deps {
  const config = overrides.config ?? loadConfig(undefined, env);
  const project =
    overrides.project ?? env.GOOGLE_CLOUD_PROJECT ?? env.GCLOUD_PROJECT ?? '';
  const maxEventAgeMs = parseDuration(env.PUSHRUN_MAX_EVENT_AGE ?? '1h');
  const reconcileAfterMs = parseDuration(env.PUSHRUN_RECONCILE_AFTER ?? '10m');
  let registry = overrides.registry;
  let batch = overrides.batch;
  let store = overrides.store;
  let notifier = overrides.notifier;

  return {
    config,
    project,
    ...(env.PUSHRUN_JOB_SERVICE_ACCOUNT && {
      jobServiceAccount: env.PUSHRUN_JOB_SERVICE_ACCOUNT,
    }),
    log: overrides.log ?? makeLogger(),
    maxEventAgeMs,
    reconcileAfterMs,
    now: overrides.now ?? (() => new Date()),
    get registry() {
      return (registry ??= (
        require('./registry') as typeof import('./registry')
      ).makeRegistry(env));
    },
    get batch() {
      return (batch ??= (
        require('./batch') as typeof import('./batch')
      ).makeBatchJobs(env));
    },
    get store() {
      return (store ??= (
        require('./runs/firestore_store') as typeof import('./runs/firestore_store')
      ).makeRunStore(env));
    },
    get notifier() {
      return (notifier ??= (
        require('./notify') as typeof import('./notify')
      ).makeNotifier(config.notifications.topic, project, env));
    },
  };
}

/** The completion path's view of the deps, read now (spreading getters would create clients). */
export function completionDeps(deps: Deps): CompletionDeps {
  return {
    get batch() {
      return deps.batch;
    },
    get store() {
      return deps.store;
    },
    get notifier() {
      return deps.notifier;
    },
    log: deps.log,
    now: deps.now,
  };
}
