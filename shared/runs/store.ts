/** Where run records live: a small interface with a Firestore adapter and an in-memory one. */
import type {CounterUpdate} from './launch_counter';
import {RunRecord, RunState, isFinalRunState} from './record';

/** The Firestore collection of run records (DESIGN.md). */
export const RUNS_COLLECTION = 'pushrun-runs';

/**
 * What an update function decides: the record to write when `changed`, and any value the
 * caller needs back from inside the transaction (`sideEffect`, e.g. "I claimed the notice").
 */
export interface RunMutation<T = never> {
  readonly record: RunRecord | undefined;
  readonly changed: boolean;
  readonly sideEffect?: T;
}

/** Filters for `list`; results are newest first (by `createdAt`). */
export interface RunQuery {
  readonly mapping?: string;
  readonly image?: string;
  readonly state?: RunState;
  readonly limit?: number;
  /** Only open runs (see `isOpenRun`) created before this time. */
  readonly openOlderThan?: Date;
  /**
   * Only open runs: an equality filter alone, so with `mapping` and `image` Firestore merges
   * the single-filter indexes deploy.sh makes and needs no index of its own.
   */
  readonly open?: true;
  /**
   * Only runs that streamed (true) or did not (false). On Firestore only with `mapping`: that
   * pair has its composite index (deploy.sh).
   */
  readonly streamed?: boolean;
}

/** A page of open runs, oldest first; pass the last record of a page as `after` for the next. */
export interface OpenRunQuery {
  readonly olderThan: Date;
  readonly limit: number;
  readonly after?: Pick<RunRecord, 'id' | 'createdAt'>;
}

/**
 * A page of the records created at or after `since` (of one mapping, or all), newest first;
 * pass the last record of a page as `after` for the next.
 */
export interface SinceRunQuery {
  readonly since: Date;
  readonly mapping?: string;
  readonly limit: number;
  readonly after?: Pick<RunRecord, 'id' | 'createdAt'>;
}

/** Run records by id. Implementations throw on faults a retry can get past. */
export interface RunStore {
  /** Writes a new record; an existing one is kept. Resolves to whether it was created. */
  create(record: RunRecord): Promise<boolean>;
  /** The record, or undefined. */
  get(id: string): Promise<RunRecord | undefined>;
  /**
   * Reads, calls `fn` and writes its record when `changed`, all in one transaction. `fn` may
   * run more than once (contention), so it must be pure.
   */
  update<T = never>(
    id: string,
    fn: (current: RunRecord | undefined) => RunMutation<T>,
  ): Promise<RunMutation<T>>;
  /**
   * Like `update`, but optimistic instead of a transaction: reads once and writes only if the
   * document has not changed since (a precondition), reading again after a lost race. For
   * writers that rarely meet, such as a second message of a push already recorded.
   */
  patch<T = never>(
    id: string,
    fn: (current: RunRecord | undefined) => RunMutation<T>,
  ): Promise<RunMutation<T>>;
  /**
   * Adds `tag` to the tags of record `id` in one write, without reading it (tags are a set, so
   * writers need not see each other). Resolves to false, writing nothing, when there is no record.
   */
  addTag(id: string, tag: string): Promise<boolean>;
  /** Records matching the query, newest first. */
  list(query?: RunQuery): Promise<RunRecord[]>;
  /** Open runs created before `olderThan`, oldest first, one page at a time. */
  listOpen(query: OpenRunQuery): Promise<RunRecord[]>;
  /**
   * Reads the launch counter of `mapping`, calls `fn` (which may read run records through its
   * second argument) and writes the counter it returns when `changed`, all in one transaction.
   * `fn` may run more than once (contention), so it must not act outside the store.
   */
  updateLaunchCounter<T>(mapping: string, fn: CounterUpdate<T>): Promise<T>;
  /** Records created since a time, newest first, one page at a time (`runs stats`). */
  listSince(query: SinceRunQuery): Promise<RunRecord[]>;
}

/**
 * Whether a run still needs attention: not in a final state, or final but nobody told yet.
 * Reconcile walks these.
 */
export function isOpenRun(record: RunRecord): boolean {
  return !isFinalRunState(record.state) || record.notifiedAt === undefined;
}

/** The default page size of `list`. */
export const DEFAULT_LIST_LIMIT = 50;
