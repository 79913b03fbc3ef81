/**
 * Compares jobs written in proto3 JSON by different writers (a template, Google's protobuf
 * runtime, gcloud's REST body) leaf by leaf, so that the spellings proto3 JSON allows for one
 * value compare equal: 8 and "8", "7200.5s" and "7200.500s".
 */

/** Every scalar of a job by its dotted path (`taskGroups.0.taskSpec.maxRunDuration`). */
export function jobLeaves(job: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (v: unknown, at: string) => {
    if (v === null || v === undefined) return;
    if (typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) visit(x, at ? `${at}.${k}` : k);
      return;
    }
    // A scalar at its default is not on the wire, and proto3 JSON writers leave it out.
    if (v !== false && v !== 0 && v !== '') out.set(at, spelling(v));
  };
  visit(job, '');
  return out;
}

const DURATION = /^(-?\d+(?:\.\d+)?)s$/;

function spelling(v: unknown): string {
  if (typeof v === 'string') {
    const d = DURATION.exec(v);
    return d ? `${Number(d[1])}s` : v;
  }
  return String(v);
}

/** What differs between two leaf maps, one line per leaf; empty when they agree. */
export function leafDifferences(
  want: ReadonlyMap<string, string>,
  got: ReadonlyMap<string, string>,
): string[] {
  const out: string[] = [];
  for (const [k, v] of want) {
    if (!got.has(k)) out.push(`missing ${k} (want ${v})`);
    else if (got.get(k) !== v) out.push(`${k}: want ${v}, got ${got.get(k)}`);
  }
  for (const [k, v] of got)
    if (!want.has(k)) out.push(`unexpected ${k} = ${v}`);
  return out;
}
