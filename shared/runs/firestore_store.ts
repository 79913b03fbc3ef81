/**
 * The RunStore on Firestore: collection `pushrun-runs`, document id = record id, updates in
 * `runTransaction`. Transactions: https://cloud.google.com/firestore/docs/manage-data/transactions
 */
// The client library is loaded when the first client is made, not with this module.
import type {DocumentData, Firestore, Query} from '@google-cloud/firestore';
import {TransientError, errorMessage} from '../errors';
import type {Settings} from '../settings';
import {
  inTurn,
  LIMITS_COLLECTION,
  type CounterUpdate,
  type LaunchCounter,
  type ReadRuns,
} from './launch_counter';
import {RunRecord} from './record';
import {
  DEFAULT_LIST_LIMIT,
  OpenRunQuery,
  RUNS_COLLECTION,
  RunMutation,
  RunQuery,
  RunStore,
  SinceRunQuery,
  isOpenRun,
} from './store';

// gRPC codes the Firestore client reports; ALREADY_EXISTS is an outcome of `create`, and
// FAILED_PRECONDITION of a write whose document changed since it was read.
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
const FAILED_PRECONDITION = 9;
const PERMANENT_CODES = new Set([3, 5, 7, 9, 11, 12, 16]); // INVALID_ARGUMENT, NOT_FOUND, ...

// Duplicate deliveries contend on one document; the client's default of 5 attempts is tight.
const TRANSACTION_ATTEMPTS = 10;
// Every push of a mapping with limits meets on its counter: a burst needs more attempts.
const COUNTER_ATTEMPTS = 50;

/**
 * A Firestore-backed RunStore. The client is created on first use; `FIRESTORE_EMULATOR_HOST`
 * in the settings points it at the emulator.
 */
export function makeRunStore(settings: FirestoreSettings): RunStore {
  return new FirestoreRunStore(() => makeFirestore(settings));
}

/** What the Firestore client is built from. */
export type FirestoreSettings = Pick<
  Settings,
  'project' | 'firestoreEmulatorHost'
>;

/** Builds the Firestore client the store uses. */
export function makeFirestore(settings: FirestoreSettings): Firestore {
  const emulator = settings.firestoreEmulatorHost;
  const {Firestore} =
    require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');
  return new Firestore({
    projectId: settings.project || undefined,
    ignoreUndefinedProperties: true,
    ...(emulator ? {host: emulator, ssl: false} : {}),
  });
}

/** A RunStore over a Firestore client made lazily, once, by `connect`. */
export class FirestoreRunStore implements RunStore {
  private db?: Firestore;
  private readonly counterTurns = new Map<string, Promise<unknown>>();

  constructor(private readonly connect: () => Firestore) {}

  private get collection() {
    this.db ??= this.connect();
    return this.db.collection(RUNS_COLLECTION);
  }

  async create(record: RunRecord): Promise<boolean> {
    try {
      await this.collection.doc(record.id).create(toDoc(record));
      return true;
    } catch (e) {
      if (codeOf(e) === ALREADY_EXISTS) return false;
      throw classify('create', e);
    }
  }

  async get(id: string): Promise<RunRecord | undefined> {
    try {
      const snap = await this.collection.doc(id).get();
      return snap.exists ? fromDoc(snap.data()!) : undefined;
    } catch (e) {
      throw classify('get', e);
    }
  }

  async update<T = never>(
    id: string,
    fn: (current: RunRecord | undefined) => RunMutation<T>,
  ): Promise<RunMutation<T>> {
    const ref = this.collection.doc(id);
    try {
      return await this.collection.firestore.runTransaction(
        async tx => {
          const snap = await tx.get(ref);
          const result = fn(snap.exists ? fromDoc(snap.data()!) : undefined);
          if (result.changed && result.record)
            tx.set(ref, toDoc(result.record));
          return result;
        },
        {maxAttempts: TRANSACTION_ATTEMPTS},
      );
    } catch (e) {
      throw classify('update', e);
    }
  }

  async patch<T = never>(
    id: string,
    fn: (current: RunRecord | undefined) => RunMutation<T>,
  ): Promise<RunMutation<T>> {
    const ref = this.collection.doc(id);
    for (let attempt = 1; ; attempt++) {
      let result: RunMutation<T>;
      try {
        const snap = await ref.get();
        result = fn(snap.exists ? fromDoc(snap.data()!) : undefined);
        if (!result.changed || !result.record) return result;
        if (snap.exists) {
          // Only update() takes a precondition; fields the record no longer has are deleted, so
          // the document ends as set() would leave it.
          const {FieldValue} =
            require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');
          const data: DocumentData = toDoc(result.record);
          for (const key of Object.keys(snap.data()!))
            if (data[key] === undefined) data[key] = FieldValue.delete();
          await ref.update(data, {lastUpdateTime: snap.updateTime!});
        } else {
          await ref.create(toDoc(result.record));
        }
        return result;
      } catch (e) {
        const lost =
          codeOf(e) === FAILED_PRECONDITION || codeOf(e) === ALREADY_EXISTS;
        if (!lost || attempt >= TRANSACTION_ATTEMPTS)
          throw classify('patch', e);
      }
    }
  }

  async addTag(id: string, tag: string): Promise<boolean> {
    const {FieldValue} =
      require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');
    try {
      await this.collection.doc(id).update({tags: FieldValue.arrayUnion(tag)});
      return true;
    } catch (e) {
      if (codeOf(e) === NOT_FOUND) return false;
      throw classify('addTag', e);
    }
  }

  async list(query: RunQuery = {}): Promise<RunRecord[]> {
    // Each equality filter with the order on createdAt needs a composite index in Firestore
    // (the emulator does not check); deploy creates them.
    let q: Query = this.collection;
    if (query.mapping !== undefined)
      q = q.where('mapping', '==', query.mapping);
    if (query.image !== undefined) q = q.where('image', '==', query.image);
    if (query.state !== undefined) q = q.where('state', '==', query.state);
    if (query.open) q = q.where('open', '==', true);
    if (query.streamed !== undefined)
      q = q.where('streaming.enabled', '==', query.streamed);
    if (query.openOlderThan !== undefined) {
      q = q
        .where('open', '==', true)
        .where('createdAt', '<', query.openOlderThan);
    }
    q = q.orderBy('createdAt', 'desc').limit(query.limit ?? DEFAULT_LIST_LIMIT);
    try {
      return (await q.get()).docs.map(d => fromDoc(d.data()));
    } catch (e) {
      throw classify('list', e);
    }
  }

  updateLaunchCounter<T>(mapping: string, fn: CounterUpdate<T>): Promise<T> {
    // In turn within this instance: concurrent transactions on one document mostly abort
    // each other, each retry after a longer pause.
    return inTurn(this.counterTurns, mapping, async () => {
      const runs = this.collection;
      const ref = runs.firestore.collection(LIMITS_COLLECTION).doc(mapping);
      try {
        return await runs.firestore.runTransaction(
          async tx => {
            const snap = await tx.get(ref);
            const readRuns: ReadRuns = async ids =>
              ids.length === 0
                ? []
                : (await tx.getAll(...ids.map(id => runs.doc(id)))).map(d =>
                    d.exists ? fromDoc(d.data()!) : undefined,
                  );
            const counter = snap.exists
              ? (toDates(snap.data()) as LaunchCounter)
              : undefined;
            const m = await fn(counter, readRuns);
            if (m.changed && m.counter) tx.set(ref, {...m.counter});
            return m.result;
          },
          {maxAttempts: COUNTER_ATTEMPTS},
        );
      } catch (e) {
        throw classify('updateLaunchCounter', e);
      }
    });
  }

  async listOpen(query: OpenRunQuery): Promise<RunRecord[]> {
    let q = this.collection
      .where('open', '==', true)
      .where('createdAt', '<', query.olderThan)
      .orderBy('createdAt')
      .orderBy('__name__');
    if (query.after) q = q.startAfter(query.after.createdAt, query.after.id);
    try {
      return (await q.limit(query.limit).get()).docs.map(d =>
        fromDoc(d.data()),
      );
    } catch (e) {
      throw classify('listOpen', e);
    }
  }

  async listSince(query: SinceRunQuery): Promise<RunRecord[]> {
    // All mappings: the automatic index on createdAt serves it. One mapping: the same
    // composite index as `list({mapping})` (mapping, createdAt descending; __name__ follows).
    let q: Query = this.collection.where('createdAt', '>=', query.since);
    if (query.mapping !== undefined)
      q = q.where('mapping', '==', query.mapping);
    q = q.orderBy('createdAt', 'desc').orderBy('__name__', 'desc');
    if (query.after) q = q.startAfter(query.after.createdAt, query.after.id);
    try {
      return (await q.limit(query.limit).get()).docs.map(d =>
        fromDoc(d.data()),
      );
    } catch (e) {
      throw classify('listSince', e);
    }
  }
}

/**
 * The document written for a record: the record itself (Dates become Timestamps) plus `open`,
 * a derived flag so reconcile can query open runs with one equality filter.
 */
function toDoc(record: RunRecord): DocumentData {
  return {...record, open: isOpenRun(record)};
}

/** A document back into a record: Timestamps become Dates, the derived flag goes. */
function fromDoc(data: DocumentData): RunRecord {
  const {open: _open, ...rest} = toDates(data) as DocumentData;
  void _open;
  return rest as RunRecord;
}

function toDates(v: unknown): unknown {
  if (v && typeof v === 'object') {
    if (typeof (v as {toDate?: unknown}).toDate === 'function') {
      return (v as {toDate(): Date}).toDate();
    }
    if (Array.isArray(v)) return v.map(toDates);
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [
        k,
        toDates(x),
      ]),
    );
  }
  return v;
}

function codeOf(e: unknown): number | undefined {
  const code = (e as {code?: unknown} | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A Firestore failure as a TransientError unless the code says a retry cannot help. */
function classify(what: string, e: unknown): Error {
  const code = codeOf(e);
  if (code !== undefined && PERMANENT_CODES.has(code)) return e as Error;
  return new TransientError(`Firestore ${what} failed: ${errorMessage(e)}`, {
    cause: e,
  });
}
