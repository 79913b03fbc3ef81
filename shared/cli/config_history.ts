/** How `pushrun config history` prints versions: a table for people, a JSON array for tools. */
import type {VersionSummary} from '../config/versions';

/** One version as `history --json` prints it (DESIGN.md "Live config"). */
export interface HistoryEntry {
  readonly version: number;
  readonly appliedAt: string;
  readonly appliedBy: string;
  readonly message: string | null;
  readonly mappings: readonly string[];
  readonly sha256: string;
}

/** The versions as the JSON array of `history --json`, newest first. */
export function historyJson(list: readonly VersionSummary[]): HistoryEntry[] {
  return list.map(v => ({
    version: v.version,
    appliedAt: v.appliedAt.toISOString(),
    appliedBy: v.appliedBy,
    message: v.message ?? null,
    mappings: [...v.mappings],
    sha256: v.sha256,
  }));
}

/** One block per version: number, when, who, why, which mappings, and the short digest. */
export function formatHistory(list: readonly VersionSummary[]): string {
  if (list.length === 0)
    return 'no live version yet: the functions use the bundled file\n';
  return (
    list
      .map(v =>
        [
          `version ${v.version}  ${v.appliedAt.toISOString()}  ${v.appliedBy}  sha256:${v.sha256.slice(0, 12)}`,
          ...(v.message ? [`  ${v.message}`] : []),
          `  mappings: ${v.mappings.join(', ') || '(none)'}`,
        ].join('\n'),
      )
      .join('\n') + '\n'
  );
}
