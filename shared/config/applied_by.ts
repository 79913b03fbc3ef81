/**
 * Who is applying a config version: the Google identity of the caller's application default
 * credentials (a service account's email, or the user's from the token's info), else `unknown`.
 */
import type {Settings} from '../settings';

/** The name history shows when the identity cannot be told. */
export const UNKNOWN_IDENTITY = 'unknown';

/**
 * The caller's identity. Against the emulator nobody signs in (and looking would print
 * warnings about the metadata server), so it is `unknown` there.
 */
export async function callerIdentity(
  settings: Pick<Settings, 'firestoreEmulatorHost'>,
): Promise<string> {
  if (settings.firestoreEmulatorHost) return UNKNOWN_IDENTITY;
  try {
    return (await adcIdentity()) ?? UNKNOWN_IDENTITY;
  } catch {
    return UNKNOWN_IDENTITY;
  }
}

async function adcIdentity(): Promise<string | undefined> {
  // Loaded here: `pushrun --help` and the other commands never need it.
  const {GoogleAuth} =
    require('google-auth-library') as typeof import('google-auth-library');
  const auth = new GoogleAuth({
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
  });
  const credentials = await auth.getCredentials();
  if (credentials.client_email) return credentials.client_email;
  // A user's credentials name nobody; the access token's info does (gcloud asks for the email scope).
  const client = await auth.getClient();
  const {token} = await client.getAccessToken();
  const tokenInfo = (client as {getTokenInfo?: unknown}).getTokenInfo;
  if (!token || typeof tokenInfo !== 'function') return undefined;
  const info = (await tokenInfo.call(client, token)) as {email?: string};
  return info.email || undefined;
}
