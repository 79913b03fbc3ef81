/**
 * The Registry API v2 over HTTP (https://distribution.github.io/distribution/spec/api/), with
 * Google credentials sent only when a Google registry challenges, and a digest-keyed cache.
 */
import type {ImageRef} from '../image_ref';
import {
  GOOGLE_TOKEN_USER,
  basicAuthorization,
  parseChallenge,
  type Challenge,
  type TokenSource,
} from './auth';
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
// The token spec says a token without `expires_in` lasts 60 seconds.
const DEFAULT_TOKEN_SECONDS = 60;
const TOKEN_EARLY_REFRESH_MS = 10_000;
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

type HostAuth =
  {scheme: 'basic'} | {scheme: 'bearer'; realm: string; service?: string};

/** A Registry speaking HTTP. */
export function makeHttpRegistry(opts: HttpRegistryOptions): Registry {
  return new HttpRegistry(opts);
}

class HttpRegistry implements Registry {
  requestCount = 0;
  private readonly fetch: typeof fetch;
  private readonly cache: DigestCache;
  private readonly timeoutMs: number;
  private tokens?: TokenSource;
  // Once a host has challenged, later requests to it authenticate up front.
  private readonly hostAuth = new Map<string, HostAuth>();
  private readonly bearerTokens = new Map<
    string,
    {value: string; expires: number}
  >();

  constructor(private readonly opts: HttpRegistryOptions) {
    this.fetch = opts.fetch ?? globalThis.fetch;
    this.cache = opts.cache ?? PROCESS_CACHE;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
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
      known && (await this.authorization(ref, known, scope, what));
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
      const authorization = await this.authorization(
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

  private async authorization(
    ref: ImageRef,
    auth: HostAuth,
    scope: string,
    what: string,
    fresh = false,
  ): Promise<string> {
    const google = ref.kind !== 'other';
    if (auth.scheme === 'basic') {
      if (!google) {
        throw new RegistryError(
          `${what}: the registry asks for a password, and pushrun sends credentials only to Google registries`,
          401,
          false,
        );
      }
      return basicAuthorization(
        GOOGLE_TOKEN_USER,
        await this.accessToken(what),
      );
    }
    const key = `${auth.realm}|${auth.service ?? ''}|${scope}`;
    const cached = this.bearerTokens.get(key);
    if (!fresh && cached && cached.expires > Date.now())
      return `Bearer ${cached.value}`;
    const url = new URL(auth.realm);
    if (auth.service) url.searchParams.set('service', auth.service);
    url.searchParams.set('scope', scope);
    // Google credentials never leave for a registry that is not Google's; others get anonymous tokens.
    const headers: Record<string, string> = google
      ? {
          Authorization: basicAuthorization(
            GOOGLE_TOKEN_USER,
            await this.accessToken(what),
          ),
        }
      : {};
    const res = await this.send(url.toString(), headers, `token for ${what}`);
    if (!res.ok)
      throw await responseError(
        res,
        `token exchange at ${auth.realm} for ${what}`,
        ref,
      );
    const body = (await res.json().catch(() => ({}))) as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const value = body.token ?? body.access_token;
    if (!value) {
      throw new RegistryError(
        `token exchange at ${auth.realm} gave no token`,
        res.status,
        false,
      );
    }
    const seconds = body.expires_in ?? DEFAULT_TOKEN_SECONDS;
    this.bearerTokens.set(key, {
      value,
      expires: Date.now() + seconds * 1000 - TOKEN_EARLY_REFRESH_MS,
    });
    return `Bearer ${value}`;
  }

  private async accessToken(what: string): Promise<string> {
    this.tokens ??= this.opts.tokenSource();
    try {
      return await this.tokens.getAccessToken();
    } catch (e) {
      throw new RegistryError(
        `${what}: could not get a Google access token (${e instanceof Error ? e.message : String(e)}); run \`gcloud auth application-default login\` or give the service account access`,
        undefined,
        false,
        {cause: e},
      );
    }
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

function hostAuthOf(challenge: Challenge, what: string): HostAuth {
  if (challenge.scheme === 'basic') return {scheme: 'basic'};
  const {realm, service} = challenge.params;
  if (!realm) {
    throw new RegistryError(
      `${what}: the registry's Bearer challenge names no realm`,
      401,
      false,
    );
  }
  return {scheme: 'bearer', realm, ...(service !== undefined && {service})};
}

/** A RegistryError for a non-2xx answer, with the registry's own error codes when it gave any. */
async function responseError(
  res: Response,
  what: string,
  ref: ImageRef,
): Promise<RegistryError> {
  const text = await res.text().catch(() => '');
  let detail = '';
  try {
    const body = JSON.parse(text) as {
      errors?: {code?: string; message?: string}[];
    };
    detail = (body.errors ?? [])
      .map(e => [e.code, e.message].filter(Boolean).join(': '))
      .join('; ');
  } catch {
    detail = text.slice(0, 200).trim();
  }
  const suffix = detail ? ` (${detail})` : '';
  const s = res.status;
  if (s === 404)
    return new RegistryError(`${what} not found${suffix}`, s, false);
  if (s === 401 || s === 403) {
    const hint =
      ref.kind === 'artifact-registry'
        ? '; the caller needs roles/artifactregistry.reader on the repository'
        : '';
    return new RegistryError(
      `${what}: access denied (${s})${suffix}${hint}`,
      s,
      false,
    );
  }
  const transient = s >= 500 || s === 429 || s === 408;
  return new RegistryError(
    `${what}: the registry answered ${s}${suffix}`,
    s,
    transient,
  );
}
