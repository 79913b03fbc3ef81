/** Durations written like `90s`, `10m`, `1h`, `2d` (DESIGN.md environment contract). */

const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
};
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Parses a duration into milliseconds; throws a precise message on anything else. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) {
    throw new Error(
      `invalid duration "${text}": write a number and a unit, like 90s, 10m or 1h`,
    );
  }
  return Math.round(Number(m[1]) * UNIT_SECONDS[m[2]] * 1000);
}

/** A duration as a table shows it: `4s`, `2m 05s`, `1h 02m`, `2d 03h`. */
export function humanizeSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400)
    return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d ${pad(Math.floor(s / 3600) % 24)}h`;
}

/** A duration as a sentence says it: `41 s`, `3 min 10 s`, `3 min`, `1 h 2 min`. */
export function spokenSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const parts =
    s < 60
      ? [[s, 's']]
      : s < 3600
        ? [
            [Math.floor(s / 60), 'min'],
            [s % 60, 's'],
          ]
        : [
            [Math.floor(s / 3600), 'h'],
            [Math.floor(s / 60) % 60, 'min'],
          ];
  return parts
    .filter(([n], i) => i === 0 || n !== 0)
    .map(([n, unit]) => `${n} ${unit}`)
    .join(' ');
}
