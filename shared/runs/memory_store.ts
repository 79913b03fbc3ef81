/** An in-memory RunStore, for unit tests and the sandbox without gcloud. */
import {inTurn, type CounterUpdate, type LaunchCounter} from './launch_counter';
import {RunRecord} from './record';
import {
  DEFAULT_LIST_LIMIT,
  OpenRunQuery,
  RunMutation,
  RunQuery,
  RunStore,
  SinceRunQuery,
  isOpenRun,
} from './store';

/** A RunStore in a Map; `records` is exposed for tests to inspect. */
export class MemoryRunStore implements RunStore {
  readonly records = new Map<string, RunRecord>();
  /** Launch counters by mapping. */
  readonly counters = new Map<string, LaunchCounter>();
  // One counter update at a time per mapping, as a transaction would have it.
  private readonly counterTurns = new Map<string, Promise<unknown>>();

  async create(record: RunRecord): Promise<boolean> {
    if (this.records.has(record.id)) return false;
    this.records.set(record.id, structuredClone(record));
    return true;
  }

  async get(id: string): Promise<RunRecord | undefined> {
    const r = this.records.get(id);
    return r && structuredClone(r);
  }

  // Synchronous between read and write: in one Node process that is a transaction.
  async update<T = never>(
    id: string,
    fn: (current: RunRecord | undefined) => RunMutation<T>,
  ): Promise<RunMutation<T>> {
    const current = this.records.get(id);
    const result = fn(current && structuredClone(current));
    if (result.changed && result.record) {
      this.records.set(id, structuredClone(result.record));
    }
    return result;
  }

  async patch<T = never>(
    id: string,
    fn: (current: RunRecord | undefined) => RunMutation<T>,
  ): Promise<RunMutation<T>> {
    return this.update(id, fn);
  }

  async addTag(id: string, tag: string): Promise<boolean> {
    const r = this.records.get(id);
    if (!r) return false;
    if (!r.tags.includes(tag))
      this.records.set(id, {...r, tags: [...r.tags, tag]});
    return true;
  }

  async list(query: RunQuery = {}): Promise<RunRecord[]> {
    return [...this.records.values()]
      .filter(
        r =>
          (query.mapping === undefined || r.mapping === query.mapping) &&
          (query.image === undefined || r.image === query.image) &&
          (query.state === undefined || r.state === query.state) &&
          (!query.open || isOpenRun(r)) &&
          (query.streamed === undefined ||
            r.streaming.enabled === query.streamed) &&
          (query.openOlderThan === undefined ||
            (isOpenRun(r) && r.createdAt < query.openOlderThan)),
      )
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
      .slice(0, query.limit ?? DEFAULT_LIST_LIMIT)
      .map(r => structuredClone(r));
  }

  updateLaunchCounter<T>(mapping: string, fn: CounterUpdate<T>): Promise<T> {
    return inTurn(this.counterTurns, mapping, async () => {
      const current = this.counters.get(mapping);
      const m = await fn(current && structuredClone(current), async ids =>
        ids.map(id => this.records.get(id)).map(r => r && structuredClone(r)),
      );
      if (m.changed && m.counter)
        this.counters.set(mapping, structuredClone(m.counter));
      return m.result;
    });
  }

  async listOpen(query: OpenRunQuery): Promise<RunRecord[]> {
    const after = query.after;
    return [...this.records.values()]
      .filter(r => isOpenRun(r) && r.createdAt < query.olderThan)
      .sort(compareCreated)
      .filter(r => !after || compareCreated(r, after) > 0)
      .slice(0, query.limit)
      .map(r => structuredClone(r));
  }

  async listSince(query: SinceRunQuery): Promise<RunRecord[]> {
    const after = query.after;
    return [...this.records.values()]
      .filter(
        r =>
          r.createdAt >= query.since &&
          (query.mapping === undefined || r.mapping === query.mapping),
      )
      .sort((a, b) => compareCreated(b, a))
      .filter(r => !after || compareCreated(r, after) < 0)
      .slice(0, query.limit)
      .map(r => structuredClone(r));
  }
}

/**
 * Oldest first, ties broken by id: the order of `listOpen` pages in every adapter (and,
 * reversed, of `listSince` pages).
 */
function compareCreated(
  a: Pick<RunRecord, 'id' | 'createdAt'>,
  b: Pick<RunRecord, 'id' | 'createdAt'>,
): number {
  return (
    a.createdAt.getTime() - b.createdAt.getTime() ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}
