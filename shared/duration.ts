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
