/**
 * The ConfigVersionStore on Firestore: collection `pushrun-config-versions` in the run store's
 * database, one document per version (id `v000001`, …), each holding its content. "Which is
 * newest" is a query for one document that reads only the summary fields.
 */
// The client library is loaded when the first client is made, not with this module.
import type {DocumentData, Firestore} from '@google-cloud/firestore';
import {TransientError, errorMessage} from '../errors';
import {makeFirestore, type FirestoreSettings} from '../runs/firestore_store';
import {
  SUMMARY_FIELDS,
  VERSIONS_COLLECTION,
  checkVersionSize,
  versionDocId,
  type ApplyResult,
  type ConfigVersionStore,
  type StoredVersion,
  type VersionDraft,
  type VersionSummary,
} from './versions';

const ALREADY_EXISTS = 6;

/** A Firestore-backed store; the client is made on first use (the emulator when set). */
export function makeConfigVersions(
  settings: FirestoreSettings,
): ConfigVersionStore {
  return new FirestoreConfigVersions(() => makeFirestore(settings));
}

/** Config versions over a Firestore client made lazily, once, by `connect`. */
export class FirestoreConfigVersions implements ConfigVersionStore {
  private db?: Firestore;

  constructor(private readonly connect: () => Firestore) {}

  private get collection() {
    this.db ??= this.connect();
    return this.db.collection(VERSIONS_COLLECTION);
  }

  private newestQuery() {
    return this.collection.orderBy('version', 'desc').limit(1);
  }

  async newest(): Promise<VersionSummary | undefined> {
    const snap = await attempt('read the newest version', () =>
      this.newestQuery()
        .select(...SUMMARY_FIELDS)
        .get(),
    );
    return snap.empty ? undefined : fromDoc(snap.docs[0].data());
  }

  async newestContent(): Promise<StoredVersion | undefined> {
    const snap = await attempt('read the newest version', () =>
      this.newestQuery().get(),
    );
    return snap.empty
      ? undefined
      : (fromDoc(snap.docs[0].data()) as StoredVersion);
  }

  async get(version: number): Promise<StoredVersion | undefined> {
    const snap = await attempt(`read version ${version}`, () =>
      this.collection.doc(versionDocId(version)).get(),
    );
    return snap.exists ? (fromDoc(snap.data()!) as StoredVersion) : undefined;
  }

  async list(limit: number): Promise<VersionSummary[]> {
    const snap = await attempt('list versions', () =>
      this.collection
        .orderBy('version', 'desc')
        .limit(limit)
        .select(...SUMMARY_FIELDS)
        .get(),
    );
    return snap.docs.map(d => fromDoc(d.data()));
  }

  async apply(draft: VersionDraft, expected: number): Promise<ApplyResult> {
    checkVersionSize(draft);
    const version = expected + 1;
    const run = () =>
      this.collection.firestore.runTransaction(async tx => {
        // The query read makes the transaction fail if a newer version lands before commit.
        const snap = await tx.get(this.newestQuery().select(...SUMMARY_FIELDS));
        const newest = snap.empty ? undefined : fromDoc(snap.docs[0].data());
        if ((newest?.version ?? 0) !== expected)
          return {kind: 'conflict', newer: newest!} as const;
        tx.create(this.collection.doc(versionDocId(version)), {
          ...draft,
          version,
        });
        return {kind: 'applied', version} as const;
      });
    try {
      return await run();
    } catch (e) {
      // Another apply created the same number between our read and our commit: it won.
      if ((e as {code?: unknown}).code !== ALREADY_EXISTS)
        throw new TransientError(`Firestore apply failed: ${errorMessage(e)}`, {
          cause: e,
        });
      const newer = await this.newest();
      return {kind: 'conflict', newer: newer!};
    }
  }
}

async function attempt<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new TransientError(
      `Firestore: could not ${what}: ${errorMessage(e)}`,
      {
        cause: e,
      },
    );
  }
}

/** A document back into a version: Timestamps become Dates. */
function fromDoc(data: DocumentData): VersionSummary {
  const at = data.appliedAt as {toDate?: () => Date} | Date | undefined;
  return {
    ...data,
    appliedAt:
      at && typeof (at as {toDate?: unknown}).toDate === 'function'
        ? (at as {toDate: () => Date}).toDate()
        : (at as Date),
  } as VersionSummary;
}
