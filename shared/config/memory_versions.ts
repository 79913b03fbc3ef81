/** An in-memory ConfigVersionStore, for unit tests. */
import {
  checkVersionSize,
  summaryOf,
  type ApplyResult,
  type ConfigVersionStore,
  type StoredVersion,
  type VersionDraft,
  type VersionSummary,
} from './versions';

/** Config versions in an array, oldest first; `versions` is exposed for tests to inspect. */
export class MemoryConfigVersions implements ConfigVersionStore {
  readonly versions: StoredVersion[] = [];

  async newest(): Promise<VersionSummary | undefined> {
    const v = this.versions.at(-1);
    return v && summaryOf(v);
  }

  async newestContent(): Promise<StoredVersion | undefined> {
    const v = this.versions.at(-1);
    return v && structuredClone(v);
  }

  async get(version: number): Promise<StoredVersion | undefined> {
    const v = this.versions.find(x => x.version === version);
    return v && structuredClone(v);
  }

  async list(limit: number): Promise<VersionSummary[]> {
    return this.versions.slice(-limit).reverse().map(summaryOf);
  }

  // Synchronous between the check and the push: in one Node process that is a transaction.
  async apply(draft: VersionDraft, expected: number): Promise<ApplyResult> {
    checkVersionSize(draft);
    const newest = this.versions.at(-1);
    if ((newest?.version ?? 0) !== expected)
      return {kind: 'conflict', newer: summaryOf(newest!)};
    const version = expected + 1;
    this.versions.push(structuredClone({...draft, version}));
    return {kind: 'applied', version};
  }
}
