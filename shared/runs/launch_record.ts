/**
 * The run records the launch path writes: a launched run, a skipped one, and the merge of a
 * launch's facts into a record that is already there.
 */
import type {ImagePush} from '../events';
import {imageName} from '../image_ref';
import type {LaunchPlan, PlannedRun, SkipPlan} from '../plan';
import {
  consoleUrl,
  skipRecordId,
  type ConfigVersion,
  type RunRecord,
} from './record';
import type {RunMutation} from './store';

/** Whether the built job streams its pushed image (the builder sets it on those containers). */
export function jobStreams(job: Record<string, unknown>): boolean {
  const groups = (job.taskGroups ?? []) as {
    taskSpec?: {runnables?: {container?: {enableImageStreaming?: boolean}}[]};
  }[];
  return groups.some(g =>
    (g.taskSpec?.runnables ?? []).some(
      r => r.container?.enableImageStreaming === true,
    ),
  );
}

/** The record of a run the push launched, as it stands right after CreateJob. */
export function launchedRecord(
  push: ImagePush,
  plan: LaunchPlan,
  launch: {
    readonly project: string;
    readonly now: Date;
    readonly streaming: boolean;
    readonly jobUid?: string;
    readonly configVersion?: ConfigVersion;
  },
): RunRecord {
  const {request, region} = plan;
  const {now, streaming, jobUid, configVersion} = launch;
  return {
    id: request.jobId,
    mapping: plan.mapping.name,
    image: imageName(push.digestRef),
    ...digests(push, plan),
    tags: push.tag !== undefined ? [push.tag] : [],
    region,
    jobName: `${request.parent}/jobs/${request.jobId}`,
    ...(jobUid && {jobUid}),
    streaming: {
      requested: plan.mapping.streaming,
      enabled: streaming,
      reasons: plan.verdict.reasons.map(r => ({
        code: r.code,
        message: r.message,
      })),
    },
    state: 'QUEUED',
    createdAt: now,
    pushedAt: push.publishedAt,
    launchedAt: now,
    history: [{state: 'QUEUED', at: now}],
    consoleUrl: consoleUrl(launch.project, region, request.jobId),
    ...(configVersion !== undefined && {configVersion}),
  };
}

/** The digest that runs, and the index it came in when the push named the index. */
export function digests(
  push: ImagePush,
  plan: PlannedRun,
): Pick<RunRecord, 'digest' | 'indexDigest'> {
  const pushed = push.digestRef.digest!;
  return {
    digest: plan.digest,
    ...(pushed !== plan.digest && {indexDigest: pushed}),
  };
}

/** The record of a run the push skipped, finished as it is made. */
export function skippedRecord(
  push: ImagePush,
  plan: SkipPlan,
  now: Date,
  configVersion?: ConfigVersion,
): RunRecord {
  return {
    id: skipRecordId(plan.mapping.name, plan.digest),
    mapping: plan.mapping.name,
    image: imageName(push.digestRef),
    ...digests(push, plan),
    tags: push.tag !== undefined ? [push.tag] : [],
    region: plan.region ?? '',
    streaming: {
      requested: plan.mapping.streaming,
      enabled: false,
      reasons: plan.verdict.reasons.map(r => ({
        code: r.code,
        message: r.message,
      })),
    },
    state: 'SKIPPED',
    skipReason: plan.skip.reason,
    skipCode: plan.skip.code,
    createdAt: now,
    pushedAt: push.publishedAt,
    finishedAt: now,
    history: [{state: 'SKIPPED', at: now}],
    ...(configVersion !== undefined && {configVersion}),
  };
}

/**
 * A new record, or the launch facts folded into one that exists: a second tag of the same
 * image, or a record the recorder made from the job's labels before this write landed.
 */
export function mergeRecord(
  current: RunRecord | undefined,
  fresh: RunRecord,
): RunMutation {
  if (!current) return {record: fresh, changed: true};
  const tags = [...new Set([...current.tags, ...fresh.tags])];
  const fromLabels = current.streaming.requested === 'unknown';
  const merged: RunRecord = {
    ...current,
    tags,
    image: current.image || fresh.image,
    ...(fromLabels && {streaming: fresh.streaming}),
    ...(!current.pushedAt && fresh.pushedAt && {pushedAt: fresh.pushedAt}),
    ...(!current.launchedAt &&
      fresh.launchedAt && {launchedAt: fresh.launchedAt}),
    ...(!current.jobUid && fresh.jobUid && {jobUid: fresh.jobUid}),
    ...(!current.indexDigest &&
      fresh.indexDigest && {indexDigest: fresh.indexDigest}),
    ...(current.configVersion === undefined &&
      fresh.configVersion !== undefined && {
        configVersion: fresh.configVersion,
      }),
  };
  const changed =
    tags.length !== current.tags.length ||
    merged.image !== current.image ||
    fromLabels ||
    merged.pushedAt !== current.pushedAt ||
    merged.launchedAt !== current.launchedAt ||
    merged.jobUid !== current.jobUid ||
    merged.indexDigest !== current.indexDigest ||
    merged.configVersion !== current.configVersion;
  return {record: merged, changed};
}
