/**
 * The launch counter of a mapping: the launches its limits count, kept in one document per
 * mapping so a reservation is one transaction (see shared/limits.ts), and the queue that lets
 * one instance update a counter one push at a time.
 */
import type {RunRecord} from './record';

/** The Firestore collection of launch counters, one document per mapping (id = mapping name). */
export const LIMITS_COLLECTION = 'pushrun-limits';

/** One launch a mapping's limits count. */
export interface CountedLaunch {
  readonly jobId: string;
  /** When the launch was reserved. */
  readonly at: Date;
  /** Not finished as far as the counter knows; the run record says when it is. */
  readonly open: boolean;
}

/** A mapping's launches of the last hour, and older ones still open, oldest first. */
export interface LaunchCounter {
  readonly launches: readonly CountedLaunch[];
}

/** Reads run records by id inside the counter's transaction. */
export type ReadRuns = (
  ids: readonly string[],
) => Promise<(RunRecord | undefined)[]>;

/** What a counter update decides: the counter to write when `changed`, and its answer. */
export interface CounterMutation<T> {
  readonly counter?: LaunchCounter;
  readonly changed: boolean;
  readonly result: T;
}

/** A counter update: the counter as it is (and run records read in the same transaction) → what to write. */
export type CounterUpdate<T> = (
  counter: LaunchCounter | undefined,
  readRuns: ReadRuns,
) => Promise<CounterMutation<T>>;

/**
 * Runs `fn` after every earlier call queued under `key` has settled: one instance's pushes of a
 * mapping take the counter in turn instead of contending for it (transactions still decide
 * between instances).
 */
export function inTurn<T>(
  queues: Map<string, Promise<unknown>>,
  key: string,
  fn: () => Promise<T>,
): Promise<T> {
  const turn = (queues.get(key) ?? Promise.resolve()).then(fn);
  const tail = turn.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return turn;
}
