/**
 * Limits (DESIGN.md "Guardrails and proof"): `maxRunsPerHour` caps launches in any rolling hour,
 * `maxConcurrentRuns` caps launched runs not yet finished; a push over either is skipped.
 *
 * How they hold under a burst. Each mapping has one counter document listing its launches; a
 * push reserves its launch in a transaction on that document before CreateJob, so concurrent
 * pushes queue on it and the count is exact. The same transaction reads the push's run record:
 * a redelivery of a push that launched finds its record (or its reservation) and goes on
 * without being counted again or skipped. A reservation whose CreateJob Batch refused for good
 * is released; one whose CreateJob may succeed on redelivery stays for that redelivery. A launch
 * counts as running until its run record is final: the records are read back only when the
 * concurrency cap would otherwise refuse the push.
 */
import type {Limits, Mapping} from './config/types';
import type {Deps} from './deps';
import type {LaunchPlan, SkipPlan} from './plan';
import type {
  CountedLaunch,
  LaunchCounter,
  ReadRuns,
} from './runs/launch_counter';
import {isFinalRunState, type SkipCode} from './runs/record';

/** What limits need. */
export type LimitDeps = Pick<Deps, 'store' | 'now' | 'maxEventAgeMs'>;

const HOUR_MS = 3600_000;

// A reservation whose run record never appeared (its push gave up, too old to redeliver) stops
// counting as running this long after the push could last have been redelivered.
const RESERVATION_GRACE_MS = 10 * 60_000;

/** How much of its limits a mapping uses now. */
export interface LimitUsage {
  /** Launches in the last hour. */
  readonly lastHour: number;
  /** Launches not yet finished. */
  readonly running: number;
}

/** Why one more launch is over a limit. */
export interface OverLimit {
  readonly code: Extract<SkipCode, 'RATE_LIMITED' | 'CONCURRENCY_LIMITED'>;
  /** e.g. "2 of 2 runs this hour". */
  readonly usage: string;
}

/** Whether the mapping has any limit. */
export function hasLimits(limits: Limits): boolean {
  return (
    limits.maxRunsPerHour !== undefined ||
    limits.maxConcurrentRuns !== undefined
  );
}

/** The usage the launches of a counter add up to at `now`. */
export function limitUsage(
  launches: readonly CountedLaunch[],
  now: Date,
): LimitUsage {
  const since = now.getTime() - HOUR_MS;
  return {
    lastHour: launches.filter(l => l.at.getTime() > since).length,
    running: launches.filter(l => l.open).length,
  };
}

/** Pure: the limit one more launch would break, if any; the hourly one first. */
export function overLimit(
  limits: Limits,
  usage: LimitUsage,
): OverLimit | undefined {
  const {maxRunsPerHour: perHour, maxConcurrentRuns: concurrent} = limits;
  if (perHour !== undefined && usage.lastHour >= perHour)
    return {
      code: 'RATE_LIMITED',
      usage: `${usage.lastHour} of ${perHour} runs this hour`,
    };
  if (concurrent !== undefined && usage.running >= concurrent)
    return {
      code: 'CONCURRENCY_LIMITED',
      usage: `${usage.running} of ${concurrent} runs not yet finished`,
    };
  return undefined;
}

/**
 * The counter's launches brought up to date: finished runs no longer count as running (their
 * records are read only when `refresh` says the cap is in reach), and launches that count for
 * nothing any more are dropped.
 */
async function currentLaunches(
  counter: LaunchCounter | undefined,
  limits: Limits,
  readRuns: ReadRuns,
  now: Date,
  deps: Pick<LimitDeps, 'maxEventAgeMs'>,
): Promise<{launches: CountedLaunch[]; changed: boolean}> {
  let launches = [...(counter?.launches ?? [])];
  const running = launches.filter(l => l.open);
  if (
    limits.maxConcurrentRuns !== undefined &&
    running.length >= limits.maxConcurrentRuns
  ) {
    const records = await readRuns(running.map(l => l.jobId));
    const stale = deps.maxEventAgeMs + RESERVATION_GRACE_MS;
    const over = new Set(
      running
        .filter((l, i) => {
          const r = records[i];
          return r
            ? isFinalRunState(r.state)
            : now.getTime() - l.at.getTime() > stale;
        })
        .map(l => l.jobId),
    );
    launches = launches.map(l => (over.has(l.jobId) ? {...l, open: false} : l));
  }
  const since = now.getTime() - HOUR_MS;
  const kept = launches.filter(l => l.open || l.at.getTime() > since);
  const before = counter?.launches ?? [];
  const changed =
    kept.length !== before.length ||
    kept.some((l, i) => l.open !== before[i].open);
  return {launches: kept, changed};
}

/** What a reservation found. */
export type Reservation =
  | {readonly kind: 'unlimited' | 'reserved' | 'launched-before' | 'held'}
  | {readonly kind: 'over'; readonly over: OverLimit};

/**
 * Reserves one launch of `plan` under its mapping's limits, in one transaction on the counter.
 * `launched-before`: the run has a record (a redelivery); `held`: an earlier delivery reserved
 * it and its CreateJob did not finish; neither counts again.
 */
export async function reserveLaunch(
  plan: LaunchPlan,
  deps: LimitDeps,
): Promise<Reservation> {
  const {limits, name} = plan.mapping;
  if (!hasLimits(limits)) return {kind: 'unlimited'};
  const jobId = plan.request.jobId;
  const now = deps.now();
  return deps.store.updateLaunchCounter<Reservation>(
    name,
    async (counter, readRuns) => {
      const unchanged = (r: Reservation) => ({changed: false, result: r});
      const [record] = await readRuns([jobId]);
      if (record) return unchanged({kind: 'launched-before'});
      if (counter?.launches.some(l => l.jobId === jobId))
        return unchanged({kind: 'held'});
      const {launches, changed} = await currentLaunches(
        counter,
        limits,
        readRuns,
        now,
        deps,
      );
      const over = overLimit(limits, limitUsage(launches, now));
      // A skip still keeps what it learned, so the next push need not read the records again.
      if (over)
        return {counter: {launches}, changed, result: {kind: 'over', over}};
      return {
        counter: {launches: [...launches, {jobId, at: now, open: true}]},
        changed: true,
        result: {kind: 'reserved'},
      };
    },
  );
}

/** Gives back the reservation of a launch Batch refused for good. */
export async function releaseLaunch(
  plan: LaunchPlan,
  deps: LimitDeps,
): Promise<void> {
  if (!hasLimits(plan.mapping.limits)) return;
  const jobId = plan.request.jobId;
  await deps.store.updateLaunchCounter(plan.mapping.name, async counter => {
    const launches = counter?.launches ?? [];
    const kept = launches.filter(l => l.jobId !== jobId);
    return {
      counter: {launches: kept},
      changed: kept.length !== launches.length,
      result: undefined,
    };
  });
}

/** The skip of a launch over a limit: the plan's run, skipped with the limit's code. */
export function limitedPlan(plan: LaunchPlan, over: OverLimit): SkipPlan {
  const limit =
    over.code === 'RATE_LIMITED' ? 'maxRunsPerHour' : 'maxConcurrentRuns';
  return {
    kind: 'skip',
    mapping: plan.mapping,
    digest: plan.digest,
    region: plan.region,
    verdict: plan.verdict,
    skip: {
      code: over.code,
      reason: `over the mapping's ${limit}: ${over.usage}`,
    },
  };
}

/**
 * What the mapping's limits would say of a push now, without reserving anything (for
 * `pushrun plan`): the usage, and the limit a launch would break.
 */
export async function previewLimits(
  mapping: Mapping,
  deps: LimitDeps,
): Promise<{usage: LimitUsage; over?: OverLimit}> {
  const now = deps.now();
  return deps.store.updateLaunchCounter(
    mapping.name,
    async (counter, readRuns) => {
      const {launches} = await currentLaunches(
        counter,
        mapping.limits,
        readRuns,
        now,
        deps,
      );
      const usage = limitUsage(launches, now);
      const over = overLimit(mapping.limits, usage);
      return {changed: false, result: {usage, ...(over && {over})}};
    },
  );
}
