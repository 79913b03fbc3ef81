/**
 * What supersede and limits would do with a push, for `pushrun plan`: the older runs it would
 * cancel (run records, then GetJob, as the launch path asks) and whether a limit would skip it.
 * Read only: nothing is reserved, marked or cancelled.
 */
import type {JobState} from '../batch/job_state';
import type {BatchJobs} from '../batch/jobs';
import type {Limits, SupersedePolicy} from '../config/types';
import {errorMessage} from '../errors';
import {hasLimits, limitedPlan, previewLimits, type OverLimit} from '../limits';
import type {LaunchPlan, PlannedRun} from '../plan';
import type {SkipCode} from '../runs/record';
import type {RunStore} from '../runs/store';
import {olderOpenRuns, policyCancels} from '../supersede';

/** What the preview reads. */
export interface GuardrailsDeps {
  readonly store: RunStore;
  readonly batch: BatchJobs;
  readonly now: () => Date;
  readonly maxEventAgeMs: number;
}

/** Supersede and limits for one planned run; a part is null when the mapping does not use it. */
export interface GuardrailsPreview {
  readonly supersede: {
    readonly policy: SupersedePolicy;
    readonly wouldCancel: readonly {
      readonly jobId: string;
      readonly state: JobState;
    }[];
  } | null;
  readonly limits:
    | (Limits & {
        /** Launches in the last hour. */
        readonly lastHour: number;
        /** Launches not yet finished. */
        readonly running: number;
        readonly wouldSkip: {
          readonly code: SkipCode;
          readonly reason: string;
          /** e.g. "2 of 2 runs this hour". */
          readonly usage: string;
        } | null;
      })
    | null;
  /** Why the run store or Batch could not tell. */
  readonly error?: string;
}

/** Whether the plan of a run needs the run store and Batch: a launch under supersede or limits. */
export function usesGuardrails(run: PlannedRun): run is LaunchPlan {
  return (
    run.kind === 'launch' &&
    (run.mapping.supersede !== 'none' || hasLimits(run.mapping.limits))
  );
}

/** What supersede and limits would do with the launch `run` of a push of `image`. */
export async function previewGuardrails(
  run: LaunchPlan,
  image: string,
  deps: GuardrailsDeps,
): Promise<GuardrailsPreview> {
  const {supersede: policy, limits} = run.mapping;
  const jobId = run.request.jobId;
  try {
    // A run on record is a redelivery: the launch path neither counts nor skips it, and it
    // supersedes only runs older than itself.
    const record = await deps.store.get(jobId);
    let over: OverLimit | undefined;
    let limitsPart: GuardrailsPreview['limits'] = null;
    if (hasLimits(limits)) {
      const preview = await previewLimits(run.mapping, deps);
      over = record ? undefined : preview.over;
      limitsPart = {
        ...limits,
        ...preview.usage,
        wouldSkip: over
          ? {...limitedPlan(run, over).skip, usage: over.usage}
          : null,
      };
    }
    let supersedePart: GuardrailsPreview['supersede'] = null;
    if (policy !== 'none') {
      // A skipped push launches nothing, so it cancels nothing.
      const older = over
        ? []
        : await olderOpenRuns(
            {
              id: jobId,
              mapping: run.mapping.name,
              image,
              createdAt: record?.createdAt ?? deps.now(),
            },
            deps,
          );
      supersedePart = {
        policy,
        wouldCancel: older
          .filter(o => policyCancels(policy, o.job.state))
          .filter(o => !o.record.supersededBy)
          .map(o => ({jobId: o.record.id, state: o.job.state})),
      };
    }
    return {supersede: supersedePart, limits: limitsPart};
  } catch (e) {
    return {supersede: null, limits: null, error: errorMessage(e)};
  }
}

/** The preview as lines of the readable plan, indented under its mapping. */
export function formatGuardrails(g: GuardrailsPreview): string[] {
  const lines: string[] = [];
  if (g.error) lines.push(`  guardrails: could not tell: ${g.error}`);
  if (g.limits) {
    const caps = [
      g.limits.maxRunsPerHour !== undefined &&
        `maxRunsPerHour ${g.limits.maxRunsPerHour}`,
      g.limits.maxConcurrentRuns !== undefined &&
        `maxConcurrentRuns ${g.limits.maxConcurrentRuns}`,
    ].filter(Boolean);
    lines.push(
      `  limits: ${caps.join(', ')} (${g.limits.lastHour} this hour, ${g.limits.running} not yet finished)`,
    );
    if (g.limits.wouldSkip)
      lines.push(`    would be skipped: ${g.limits.wouldSkip.usage}`);
  }
  if (g.supersede) {
    lines.push(`  supersede: ${g.supersede.policy}`);
    for (const c of g.supersede.wouldCancel)
      lines.push(`    would cancel ${c.jobId} (${c.state})`);
    if (g.supersede.wouldCancel.length === 0)
      lines.push('    would cancel nothing');
  }
  return lines;
}
