/**
 * What changes between two configs, mapping by mapping (added, removed, changed with the keys
 * that changed), and in the other top-level sections; compared by meaning (`resolvedValue`).
 */
import diff from 'microdiff';
import {isObject} from './template';

/** One mapping's change; `keys` are paths such as `job.taskGroups[0].taskSpec.runnables[0].container.commands`. */
export interface MappingChange {
  readonly name: string;
  readonly change: 'added' | 'removed' | 'changed';
  readonly keys: readonly string[];
}

/** The whole comparison; empty lists mean nothing differs. */
export interface ConfigDiff {
  readonly mappings: readonly MappingChange[];
  /** Changed keys outside `mappings`, such as `defaults.streaming`. */
  readonly other: readonly string[];
}

type Json = Record<string, unknown>;

/** Compares two resolved config values (`before` absent: nothing live yet). */
export function diffConfigs(before: Json | undefined, after: Json): ConfigDiff {
  const byName = (v: Json | undefined) =>
    new Map(
      (Array.isArray(v?.mappings) ? (v!.mappings as unknown[]) : [])
        .filter(isObject)
        .map(m => [String(m.name), m] as const),
    );
  const old = byName(before);
  const now = byName(after);
  const mappings: MappingChange[] = [];
  for (const [name, m] of now) {
    const was = old.get(name);
    if (!was) {
      mappings.push({name, change: 'added', keys: []});
      continue;
    }
    const keys = changedKeys(was, m);
    if (keys.length) mappings.push({name, change: 'changed', keys});
  }
  for (const name of old.keys()) {
    if (!now.has(name)) mappings.push({name, change: 'removed', keys: []});
  }
  const {mappings: _a, ...restBefore} = before ?? {};
  const {mappings: _b, ...restAfter} = after;
  void _a;
  void _b;
  return {mappings, other: changedKeys(restBefore, restAfter)};
}

/** Whether the comparison found anything. */
export function differs(d: ConfigDiff): boolean {
  return d.mappings.length > 0 || d.other.length > 0;
}

/** The comparison as people read it, one line per mapping and key. */
export function formatDiff(d: ConfigDiff): string {
  if (!differs(d)) return 'no changes\n';
  const sign = {added: '+', removed: '-', changed: '~'} as const;
  const lines: string[] = [];
  for (const m of d.mappings) {
    lines.push(`${sign[m.change]} mapping ${m.name}: ${m.change}`);
    for (const k of m.keys) lines.push(`    ${k}`);
  }
  for (const k of d.other) lines.push(`~ ${k}`);
  return lines.join('\n') + '\n';
}

/**
 * The keys that differ, deepest first-differing path each: a changed array element names the
 * array's index path; a key added or removed names itself. Arrays of scalars count as one key.
 */
function changedKeys(before: unknown, after: unknown): string[] {
  const paths = diff(
    before as Record<string, unknown>,
    after as Record<string, unknown>,
  ).map(c => keyPath(scalarArrayPath(c.path, after, before)));
  return [...new Set(paths)];
}

// `commands: [a, b]` → `[a, c]` is one change of `commands`, not of `commands[1]`.
function scalarArrayPath(
  p: readonly (string | number)[],
  ...values: unknown[]
): readonly (string | number)[] {
  if (typeof p.at(-1) !== 'number') return p;
  const parent = p.slice(0, -1);
  const isScalars = (v: unknown) =>
    Array.isArray(v) && v.every(x => x === null || typeof x !== 'object');
  return values.every(v => {
    const at = parent.reduce<unknown>(
      (o, k) => (o as Record<string | number, unknown> | undefined)?.[k],
      v,
    );
    return at === undefined || isScalars(at);
  })
    ? parent
    : p;
}

/** `job.taskGroups[0].taskSpec` from `['job', 'taskGroups', 0, 'taskSpec']`. */
export function keyPath(p: readonly (string | number)[]): string {
  return p
    .map((k, i) =>
      typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${k}`,
    )
    .join('');
}
