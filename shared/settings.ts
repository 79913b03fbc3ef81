/**
 * The environment, read once into a typed value (DESIGN.md "Environment"). This is the only
 * module that reads `process.env`; everything else is handed `Settings`. Like
 * functions-framework's `parseOptions`, it takes the environment as a default parameter.
 */
import {ConfigError, errorMessage} from './errors';
import {parseDuration} from './duration';

/** Where the config lives when `PUSHRUN_CONFIG` is not set (relative to the working directory). */
export const DEFAULT_CONFIG_FILE = 'config/pushrun.yaml';

/** `host:port` of a plaintext gRPC endpoint. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** Everything pushrun reads from its environment. */
export interface Settings {
  /** `GOOGLE_CLOUD_PROJECT`, else `GCLOUD_PROJECT`; empty when neither is set. */
  readonly project: string;
  /** `PUSHRUN_CONFIG`, else `config/pushrun.yaml`. */
  readonly configFile: string;
  /** `PUSHRUN_CONFIG_TTL`: how often the functions look for a newer live config (30 s). */
  readonly configTtlMs: number;
  /** `PUSHRUN_REGISTRY_ENDPOINT`: a base URL replacing `https://HOST` in registry requests. */
  readonly registryEndpoint?: string;
  /** `PUSHRUN_BATCH_ENDPOINT`: a plaintext Batch API (the stand-in). */
  readonly batchEndpoint?: Endpoint;
  readonly pubsubEmulatorHost?: string;
  readonly firestoreEmulatorHost?: string;
  /** `PUSHRUN_WEBHOOK_URL`: a secret, never logged. */
  readonly webhookUrl?: string;
  /** `PUSHRUN_MAX_EVENT_AGE` (1 h): older push events are acknowledged, not acted on. */
  readonly maxEventAgeMs: number;
  /** `PUSHRUN_RECONCILE_AFTER` (10 min): how long a run may stay open before reconcile asks. */
  readonly reconcileAfterMs: number;
  /** `PUSHRUN_JOB_SERVICE_ACCOUNT`: who jobs run as when their template names nobody. */
  readonly jobServiceAccount?: string;
}

/** Reads the environment; throws ConfigError naming the variable when a value is malformed. */
export function parseSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const text = (name: string) => env[name]?.trim() || undefined;
  const duration = (name: string, fallback: string) => {
    try {
      return parseDuration(text(name) ?? fallback);
    } catch (e) {
      throw new ConfigError(`${name}: ${errorMessage(e)}`);
    }
  };
  const registryEndpoint = text('PUSHRUN_REGISTRY_ENDPOINT');
  if (registryEndpoint && !/^https?:\/\/[^/]+\/?$/.test(registryEndpoint)) {
    throw new ConfigError(
      `PUSHRUN_REGISTRY_ENDPOINT="${registryEndpoint}" must be a base URL such as http://127.0.0.1:5000`,
    );
  }
  const batchEndpoint = text('PUSHRUN_BATCH_ENDPOINT');
  const pubsubEmulatorHost = text('PUBSUB_EMULATOR_HOST');
  const firestoreEmulatorHost = text('FIRESTORE_EMULATOR_HOST');
  const webhookUrl = text('PUSHRUN_WEBHOOK_URL');
  const jobServiceAccount = text('PUSHRUN_JOB_SERVICE_ACCOUNT');
  return {
    project: text('GOOGLE_CLOUD_PROJECT') ?? text('GCLOUD_PROJECT') ?? '',
    configFile: text('PUSHRUN_CONFIG') ?? DEFAULT_CONFIG_FILE,
    configTtlMs: duration('PUSHRUN_CONFIG_TTL', '30s'),
    ...(registryEndpoint && {registryEndpoint}),
    ...(batchEndpoint && {batchEndpoint: parseEndpoint(batchEndpoint)}),
    ...(pubsubEmulatorHost && {pubsubEmulatorHost}),
    ...(firestoreEmulatorHost && {firestoreEmulatorHost}),
    ...(webhookUrl && {webhookUrl}),
    maxEventAgeMs: duration('PUSHRUN_MAX_EVENT_AGE', '1h'),
    reconcileAfterMs: duration('PUSHRUN_RECONCILE_AFTER', '10m'),
    ...(jobServiceAccount && {jobServiceAccount}),
  };
}

/** Splits `host:port` (or `[v6]:port`); throws ConfigError on anything else. */
export function parseEndpoint(endpoint: string): Endpoint {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(endpoint.trim());
  if (!m) {
    throw new ConfigError(
      `PUSHRUN_BATCH_ENDPOINT must be host:port, got "${endpoint}"`,
    );
  }
  // An IPv6 host keeps its brackets: gax joins host and port with ':' into the gRPC target.
  return {host: m[1], port: Number(m[2])};
}
