/**
 * The launch counter of a mapping: the launches its limits count, kept in one document per
 * mapping so a reservation is one transaction (see shared/limits.ts). Types only.
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
