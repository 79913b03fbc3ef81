/**
 * The Registry API v2 over HTTP (https://distribution.github.io/distribution/spec/api/), with
 * Google credentials sent only when a Google registry challenges, and a digest-keyed cache.
 */
import type {ImageRef} from '../image_ref';
import {parseChallenge, type TokenSource} from './auth';
import {
  RegistryCredentials,
  hostAuthOf,
  responseError,
  type HostAuth,
} from './credentials';
import {PROCESS_CACHE, type DigestCache} from './cache';
import {digestMatches, parseManifest} from './manifest';
import {MANIFEST_ACCEPT} from './media_types';
import {
  BlobTooLargeError,
  RegistryError,
  referenceOf,
  type ContentStore,
  type FetchedManifest,
  type Registry,
  type ResolvedImage,
} from './registry';
import {resolveImage, type ResolveHooks} from './resolve';

/** How long one registry request may take before it counts as unreachable. */
export const DEFAULT_TIMEOUT_MS = 30_000;
const LOOPBACK_HOSTS = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;

/** What the HTTP registry is built from; everything but the token source has a default. */
export interface HttpRegistryOptions {
  /** Base URL replacing `https://HOST` in every request (PUSHRUN_REGISTRY_ENDPOINT). */
  readonly endpoint?: string;
  /** Called at most once, on the first challenge from a Google registry. */
  readonly tokenSource: () => TokenSource;
  readonly fetch?: typeof fetch;
  readonly cache?: DigestCache;
  readonly timeoutMs?: number;
}

/** A Registry speaking HTTP. */
export function makeHttpRegistry(opts: HttpRegistryOptions): Registry {
  return new HttpRegistry(opts);
}

class HttpRegistry implements Registry {
  requestCount = 0;
  private readonly fetch: typeof fetch;
  private readonly cache: DigestCache;
  private readonly timeoutMs: number;
  private readonly credentials: RegistryCredentials;
  // Once a host has challenged, later requests to it authenticate up front.
  private readonly hostAuth = new Map<string, HostAuth>();

  constructor(private readonly opts: HttpRegistryOptions) {
    this.fetch = opts.fetch ?? globalThis.fetch;
    this.cache = opts.cache ?? PROCESS_CACHE;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.credentials = new RegistryCredentials(opts.tokenSource, (u, h, w) =>
      this.send(u, h, w),
    );
  }

  async getManifest(
    ref: ImageRef,
    reference = referenceOf(ref),
  ): Promise<FetchedManifest> {
    const byDigest = reference.includes(':');
    const cached = byDigest ? this.cache.manifest(reference) : undefined;
    if (cached) return cached;
    const what = `manifest ${ref.host}/${ref.path}${byDigest ? '@' : ':'}${reference}`;
    const res = await this.request(ref, `manifests/${reference}`, what, {
      Accept: MANIFEST_ACCEPT,
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    const manifest = parseManifest(
      bytes,
      {
        contentType: res.headers.get('content-type'),
        digest: byDigest ? reference : undefined,
        headerDigest: res.headers.get('docker-content-digest'),
      },
      what,
    );
    this.cache.putManifest(manifest);
    return manifest;
  }

  async getBlob(
    ref: ImageRef,
    digest: string,
    opts: {maxBytes?: number} = {},
  ): Promise<Buffer> {
    const cached = this.cache.blob(digest);
    if (cached) return cached;
    const what = `blob ${digest} of ${ref.host}/${ref.path}`;
    const res = await this.request(ref, `blobs/${digest}`, what, {});
    const length = Number(res.headers.get('content-length') ?? NaN);
    if (opts.maxBytes !== undefined && length > opts.maxBytes) {
      await res.body?.cancel();
      throw new BlobTooLargeError(
        `${what} is ${length} bytes, more than the ${opts.maxBytes} pushrun reads`,
        length,
        res.status,
      );
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    if (opts.maxBytes !== undefined && bytes.length > opts.maxBytes) {
      throw new BlobTooLargeError(
        `${what} is more than the ${opts.maxBytes} bytes pushrun reads`,
        bytes.length,
        res.status,
      );
    }
    if (!digestMatches(bytes, digest)) {
      throw new RegistryError(
        `${what}: the content does not match its digest`,
        res.status,
        false,
      );
    }
    this.cache.putBlob(digest, bytes);
    return bytes;
  }

  resolveImage(
    ref: ImageRef,
    opts: {platform?: string} & ResolveHooks = {},
  ): Promise<ResolvedImage> {
    return resolveImage(this.store(ref), referenceOf(ref), opts.platform, opts);
  }

  store(ref: ImageRef): ContentStore {
    return {
      manifest: reference => this.getManifest(ref, reference),
      blob: (digest, opts) => this.getBlob(ref, digest, opts),
    };
  }

  private baseUrl(host: string): string {
    if (this.opts.endpoint) return this.opts.endpoint.replace(/\/+$/, '');
    if (host === 'docker.io') return 'https://registry-1.docker.io';
    // A registry on loopback is a local test registry, which speaks plain HTTP.
    return LOOPBACK_HOSTS.test(host) ? `http://${host}` : `https://${host}`;
  }

  /** GET `/v2/<path>/<tail>`, answering one auth challenge; throws RegistryError unless 2xx. */
  private async request(
    ref: ImageRef,
    tail: string,
    what: string,
    headers: Record<string, string>,
  ): Promise<Response> {
    const url = `${this.baseUrl(ref.host)}/v2/${ref.path}/${tail}`;
    const scope = `repository:${ref.path}:pull`;
    const known = this.hostAuth.get(ref.host);
    const upFront =
      known && (await this.credentials.authorization(ref, known, scope, what));
    let res = await this.send(
      url,
      {...headers, ...(upFront && {Authorization: upFront})},
      what,
    );
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers.get('www-authenticate'));
      await res.body?.cancel();
      if (!challenge) {
        throw new RegistryError(
          `${what}: the registry refused access (401) without saying how to authenticate`,
          401,
          false,
        );
      }
      const auth = hostAuthOf(challenge, what);
      this.hostAuth.set(ref.host, auth);
      const authorization = await this.credentials.authorization(
        ref,
        auth,
        challenge.params.scope ?? scope,
        what,
        true,
      );
      res = await this.send(
        url,
        {...headers, Authorization: authorization},
        what,
      );
    }
    if (!res.ok) throw await responseError(res, what, ref);
    return res;
  }

  private async send(
    url: string,
    headers: Record<string, string>,
    what: string,
  ): Promise<Response> {
    this.requestCount++;
    try {
      return await this.fetch(url, {
        headers,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const err = e as Error & {cause?: {code?: string; message?: string}};
      if (err.name === 'TimeoutError' || err.name === 'AbortError') {
        throw new RegistryError(
          `${what}: no answer from ${new URL(url).host} within ${this.timeoutMs / 1000}s`,
          undefined,
          true,
          {cause: e},
        );
      }
      const detail = err.cause?.code ?? err.cause?.message ?? err.message;
      throw new RegistryError(
        `${what}: could not reach ${new URL(url).host} (${detail})`,
        undefined,
        true,
        {cause: e},
      );
    }
  }
}
