/**
 * Answering a registry's challenge: Basic with the Google access token, or a Bearer token
 * exchanged at the realm and kept until shortly before it expires
 * (https://distribution.github.io/distribution/spec/auth/token/).
 */
import type {ImageRef} from '../image_ref';
import {
  GOOGLE_TOKEN_USER,
  basicAuthorization,
  type Challenge,
  type TokenSource,
} from './auth';
import {RegistryError} from './registry';

// The token spec says a token without `expires_in` lasts 60 seconds.
const DEFAULT_TOKEN_SECONDS = 60;
const TOKEN_EARLY_REFRESH_MS = 10_000;

/** How a host asked to be authenticated. */
export type HostAuth =
  {scheme: 'basic'} | {scheme: 'bearer'; realm: string; service?: string};

/** Sends one GET (the registry's own `send`, so token requests are counted and timed out alike). */
type Send = (
  url: string,
  headers: Record<string, string>,
  what: string,
) => Promise<Response>;

/** Credentials for registry requests: Google's only for Google registries, tokens cached. */
export class RegistryCredentials {
  private tokens?: TokenSource;
  private readonly bearerTokens = new Map<
    string,
    {value: string; expires: number}
  >();

  constructor(
    /** Called at most once, on the first challenge from a Google registry. */
    private readonly tokenSource: () => TokenSource,
    private readonly send: Send,
  ) {}

  /** The Authorization header for `scope` on a host that challenged with `auth`. */
  async authorization(
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
    this.tokens ??= this.tokenSource();
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
}

/** The challenge as the scheme to answer, refused when a Bearer challenge names no realm. */
export function hostAuthOf(challenge: Challenge, what: string): HostAuth {
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
export async function responseError(
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
