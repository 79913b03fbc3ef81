/**
 * Registry authentication with Google credentials. A registry that wants credentials answers 401
 * with `WWW-Authenticate`: `Bearer realm=…,service=…,scope=…` is exchanged for a registry token at
 * the realm (https://distribution.github.io/distribution/spec/auth/token/), `Basic` is answered
 * directly. Either way the Google OAuth2 access token is the password of the user
 * `oauth2accesstoken` (https://cloud.google.com/artifact-registry/docs/docker/authentication).
 */
import type {GoogleAuth} from 'google-auth-library';

/** Gives an OAuth2 access token; tests pass a fake. */
export interface TokenSource {
  getAccessToken(): Promise<string>;
}

/** The user name Google registries expect with an access token as password. */
export const GOOGLE_TOKEN_USER = 'oauth2accesstoken';

const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/**
 * A token source over Application Default Credentials. google-auth-library is loaded and
 * GoogleAuth built on first use: most registry reads (a public or local registry, a cached
 * digest) never need a token, and loading it costs a CLI run or a cold start time.
 */
export function makeGoogleTokenSource(): TokenSource {
  let auth: GoogleAuth | undefined;
  return {
    async getAccessToken() {
      if (!auth) {
        const {GoogleAuth} = await import('google-auth-library');
        auth = new GoogleAuth({scopes: [CLOUD_PLATFORM_SCOPE]});
      }
      const token = await auth.getAccessToken();
      if (!token)
        throw new Error('Application Default Credentials gave no access token');
      return token;
    },
  };
}

/** A parsed `WWW-Authenticate` challenge. */
export interface Challenge {
  readonly scheme: 'bearer' | 'basic';
  readonly params: Readonly<Record<string, string>>;
}

const AUTH_PARAM = /([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;

/** Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`; undefined otherwise. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1].toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'basic') return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(AUTH_PARAM)) {
    params[p[1].toLowerCase()] =
      p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  }
  return {scheme, params};
}

/** `Basic base64(user:password)`. */
export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
