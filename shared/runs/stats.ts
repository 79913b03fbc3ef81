/**
 * What `pushrun runs stats` reports (DESIGN.md "Guardrails and proof"): per mapping, how runs
 * went, and startup (launch → RUNNING) and run time (RUNNING → end) of streamed and pulled
 * runs apart. Pure: records go in one at a time, so a long history never sits in memory.
 */
import {secondsBetween, type RunRecord} from './record';

/** The 50th and 90th percentile of some seconds; null when there were none. */
export interface Percentiles {
  readonly p50: number | null;
  readonly p90: number | null;
}

/** Launched runs that streamed (or pulled), with their startup and run times. */
export interface TimingStats {
  readonly runs: number;
  readonly startupSeconds: Percentiles;
  readonly runSeconds: Percentiles;
}

/** One mapping's line of the report; the `--json` shape is the contract. */
export interface MappingStats {
  readonly mapping: string;
  /** Every record created in the window, skipped pushes included. */
  readonly runs: number;
  readonly states: Readonly<Record<string, number>>;
  readonly streamed: TimingStats;
  readonly pulled: TimingStats;
  /** pulled startup p50 − streamed startup p50; null unless both exist. */
  readonly startupSavedSeconds: number | null;
}

/** The whole report: `since` as an ISO time, mappings by name. */
export interface RunStats {
  readonly since: string;
  readonly mappings: readonly MappingStats[];
}

/**
 * The `p` quantile (0..1) of ascending `sorted` values by linear interpolation between
 * closest ranks: R's type 7, numpy's default, Excel's PERCENTILE.INC. Null when empty.
 */
export function percentile(
  sorted: readonly number[],
  p: number,
): number | null {
  if (!sorted.length) return null;
  const h = (sorted.length - 1) * Math.min(1, Math.max(0, p));
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Seconds from launch to RUNNING, if the run got that far. */
export function startupSeconds(r: RunRecord): number | undefined {
  return secondsBetween(r.launchedAt, r.startedAt);
}

/** Seconds from RUNNING to the end, if the run started and ended. */
export function runSeconds(r: RunRecord): number | undefined {
  return secondsBetween(r.startedAt, r.finishedAt);
}

/** Whether a record is a launched run (a job was created), not a skipped push. */
export function launched(r: RunRecord): boolean {
  return r.state !== 'SKIPPED';
}

/**
 * The share of decided runs that succeeded: SUCCEEDED of SUCCEEDED + FAILED. Cancelled and
 * skipped runs say nothing about the job, and open runs are not decided yet. Null when none.
 */
export function successRate(
  states: Readonly<Record<string, number>>,
): number | null {
  const ok = states.SUCCEEDED ?? 0;
  const decided = ok + (states.FAILED ?? 0);
  return decided ? ok / decided : null;
}

/** The median startup of `records`' pulled runs, in seconds; undefined when none started. */
export function pulledStartupMedian(
  records: readonly RunRecord[],
): number | undefined {
  const xs = records
    .filter(r => launched(r) && !r.streaming.enabled)
    .map(startupSeconds)
    .filter((s): s is number => s !== undefined)
    .sort((a, b) => a - b);
  return percentile(xs, 0.5) ?? undefined;
}

interface Timings {
  runs: number;
  startup: number[];
  run: number[];
}

interface Tally {
  runs: number;
  states: Record<string, number>;
  streamed: Timings;
  pulled: Timings;
}

/** Collects records one at a time; `result` gives the report. */
export class RunStatsAccumulator {
  private readonly byMapping = new Map<string, Tally>();

  /** Starts with `mappings` present even if no record of theirs arrives. */
  constructor(mappings: readonly string[] = []) {
    for (const m of mappings) this.tally(m);
  }

  /** Counts one record. */
  add(r: RunRecord): void {
    const t = this.tally(r.mapping);
    t.runs++;
    t.states[r.state] = (t.states[r.state] ?? 0) + 1;
    if (!launched(r)) return;
    const side = r.streaming.enabled ? t.streamed : t.pulled;
    side.runs++;
    const startup = startupSeconds(r);
    if (startup !== undefined) side.startup.push(startup);
    const run = runSeconds(r);
    if (run !== undefined) side.run.push(run);
  }

  /** The report over everything added, mappings sorted by name. */
  result(since: Date): RunStats {
    const mappings = [...this.byMapping.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([mapping, t]): MappingStats => {
        const streamed = timingStats(t.streamed);
        const pulled = timingStats(t.pulled);
        const s = streamed.startupSeconds.p50;
        const p = pulled.startupSeconds.p50;
        return {
          mapping,
          runs: t.runs,
          states: sortedKeys(t.states),
          streamed,
          pulled,
          startupSavedSeconds: s !== null && p !== null ? round(p - s) : null,
        };
      });
    return {since: since.toISOString(), mappings};
  }

  private tally(mapping: string): Tally {
    let t = this.byMapping.get(mapping);
    if (!t) {
      const empty = (): Timings => ({runs: 0, startup: [], run: []});
      t = {runs: 0, states: {}, streamed: empty(), pulled: empty()};
      this.byMapping.set(mapping, t);
    }
    return t;
  }
}

/** The report over `records` (all of the window). */
export function runStats(
  records: Iterable<RunRecord>,
  since: Date,
  mappings: readonly string[] = [],
): RunStats {
  const acc = new RunStatsAccumulator(mappings);
  for (const r of records) acc.add(r);
  return acc.result(since);
}

function timingStats(t: Timings): TimingStats {
  return {
    runs: t.runs,
    startupSeconds: percentiles(t.startup),
    runSeconds: percentiles(t.run),
  };
}

function percentiles(xs: number[]): Percentiles {
  const sorted = [...xs].sort((a, b) => a - b);
  const at = (p: number) => {
    const v = percentile(sorted, p);
    return v === null ? null : round(v);
  };
  return {p50: at(0.5), p90: at(0.9)};
}

// Timestamps are milliseconds: more digits than that are floating-point noise.
function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function sortedKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}
