/**
 * The functions' reader of live config versions: Firestore's REST API over `fetch`, so the
 * first event's extra read costs one HTTP request, not loading the Firestore client library
 * and opening its gRPC channel before the first CreateJob.
 * REST reference: https://cloud.google.com/firestore/docs/reference/rest/v1/projects.databases.documents
 */
import {TransientError, errorMessage} from '../errors';
import {makeGoogleTokenSource} from '../registry/auth';
import type {Settings} from '../settings';
import {
  SUMMARY_FIELDS,
  VERSIONS_COLLECTION,
  versionDocId,
  type ConfigVersionReader,
  type StoredVersion,
  type VersionSummary,
} from './versions';

// A cold instance with nothing in memory waits this long for its one read before retrying.
const READ_TIMEOUT_MS = 10_000;

/** What the reader needs: the project and, for tests and the sandbox, the emulator. */
export type RestReaderSettings = Pick<
  Settings,
  'project' | 'firestoreEmulatorHost'
>;

/** Reads versions over REST; `fetchFn` is for tests. */
export function makeConfigVersionReader(
  settings: RestReaderSettings,
  fetchFn: typeof fetch = fetch,
): ConfigVersionReader {
  const emulator = settings.firestoreEmulatorHost;
  const documents = `${emulator ? `http://${emulator}` : 'https://firestore.googleapis.com'}/v1/projects/${settings.project}/databases/(default)/documents`;
  // google-auth-library is loaded on the first read outside the emulator, not with this module.
  const tokens = emulator ? undefined : makeGoogleTokenSource();
  const headers = async (): Promise<Record<string, string>> => ({
    'content-type': 'application/json',
    // The emulator asks for no credentials.
    ...(tokens && {authorization: `Bearer ${await tokens.getAccessToken()}`}),
  });
  const call = async (
    what: string,
    url: string,
    body?: unknown,
  ): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetchFn(url, {
        method: body === undefined ? 'GET' : 'POST',
        headers: await headers(),
        ...(body !== undefined && {body: JSON.stringify(body)}),
        signal: AbortSignal.timeout(READ_TIMEOUT_MS),
      });
    } catch (e) {
      throw new TransientError(
        `Firestore: could not ${what}: ${errorMessage(e)}`,
        {cause: e},
      );
    }
    if (res.status === 404) return undefined;
    if (!res.ok) {
      throw new TransientError(
        `Firestore: could not ${what}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`,
      );
    }
    return res.json();
  };
  const newestQuery = async (summary: boolean) => {
    const rows = (await call(
      'read the newest version',
      `${documents}:runQuery`,
      {
        structuredQuery: {
          from: [{collectionId: VERSIONS_COLLECTION}],
          orderBy: [{field: {fieldPath: 'version'}, direction: 'DESCENDING'}],
          limit: 1,
          ...(summary && {
            select: {fields: SUMMARY_FIELDS.map(fieldPath => ({fieldPath}))},
          }),
        },
      },
    )) as {document?: RestDocument}[] | undefined;
    const doc = rows?.find(r => r.document)?.document;
    return doc && fromFields(doc.fields ?? {});
  };
  return {
    newest: () => newestQuery(true),
    newestContent: async () =>
      (await newestQuery(false)) as StoredVersion | undefined,
    async get(version) {
      const doc = (await call(
        `read version ${version}`,
        `${documents}/${VERSIONS_COLLECTION}/${versionDocId(version)}`,
      )) as RestDocument | undefined;
      return doc && (fromFields(doc.fields ?? {}) as StoredVersion);
    },
  };
}

interface RestDocument {
  readonly name: string;
  readonly fields?: Record<string, RestValue>;
}

/** A Firestore REST `Value`: one of these members is set. */
type RestValue = {
  readonly nullValue?: null;
  readonly booleanValue?: boolean;
  readonly integerValue?: string;
  readonly doubleValue?: number;
  readonly timestampValue?: string;
  readonly stringValue?: string;
  readonly arrayValue?: {readonly values?: readonly RestValue[]};
  readonly mapValue?: {readonly fields?: Record<string, RestValue>};
};

function fromFields(fields: Record<string, RestValue>): VersionSummary {
  return Object.fromEntries(
    Object.entries(fields).map(([k, v]) => [k, fromValue(v)]),
  ) as unknown as VersionSummary;
}

/** A REST value as the client library would give it (timestamps as Dates). */
export function fromValue(v: RestValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.integerValue !== undefined) return Number(v.integerValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.booleanValue !== undefined) return v.booleanValue;
  if (v.timestampValue !== undefined) return new Date(v.timestampValue);
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(fromValue);
  if (v.mapValue) return fromFields(v.mapValue.fields ?? {});
  return null;
}
