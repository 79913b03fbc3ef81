/** Small helpers every benchmark shares: timing, percentiles, and a plain text table. */

/** The p-th percentile (nearest rank) of `xs`; p = 50 is the median. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[
    Math.max(0, Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1))
  ];
}

/** The median of `xs`. */
export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** Runs `f` and resolves to its value and how long it took, in milliseconds. */
export async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = process.hrtime.bigint();
  const v = await f();
  return [v, Number(process.hrtime.bigint() - t) / 1e6];
}

/** Prints rows under a header, columns padded to their widest cell. */
export function printTable(
  head: readonly string[],
  rows: readonly string[][],
): void {
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map(r => r[i].length)),
  );
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(line(head));
  console.log(widths.map(w => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}
