/** The registry package: the Registry interface, its HTTP adapter, and the OCI layout reader. */
import type {Settings} from '../settings';
import {makeGoogleTokenSource, type TokenSource} from './auth';
import type {DigestCache} from './cache';
import {makeHttpRegistry} from './http_registry';
import type {Registry} from './registry';

export * from './registry';
export {openOciLayout, type OciLayout} from './oci_layout';
export {DigestCache, PROCESS_CACHE} from './cache';
export {
  DEFAULT_PLATFORM,
  formatPlatform,
  parsePlatform,
  type Platform,
} from './platform';

/** What makeRegistry may be given instead of its defaults (tests pass fakes). */
export interface RegistryDeps {
  readonly fetch?: typeof fetch;
  readonly tokenSource?: () => TokenSource;
  readonly cache?: DigestCache;
  readonly timeoutMs?: number;
}

/**
 * The registry pushrun talks to: HTTPS to each image's host, or `PUSHRUN_REGISTRY_ENDPOINT` for
 * every request. Google credentials (ADC) are looked up only when a registry first challenges.
 */
export function makeRegistry(
  settings: Settings,
  deps: RegistryDeps = {},
): Registry {
  const endpoint = settings.registryEndpoint;
  return makeHttpRegistry({
    ...(endpoint && {endpoint}),
    tokenSource: deps.tokenSource ?? makeGoogleTokenSource,
    ...(deps.fetch && {fetch: deps.fetch}),
    ...(deps.cache && {cache: deps.cache}),
    ...(deps.timeoutMs !== undefined && {timeoutMs: deps.timeoutMs}),
  });
}
