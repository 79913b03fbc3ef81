/**
 * `pushrun plan IMAGE [--tag T] [--config F] [--json]`: which mappings a push of IMAGE matches,
 * and for each the streaming verdict and the exact CreateJob request, or why it would be skipped.
 * Talks to the registry; for a mapping with supersede or limits it also reads the run store and
 * Batch (GetJob), to show what the push would cancel and whether a limit would skip it. Exit 0 planned (even when nothing matches), 1 invalid config,
 * 2 could not tell (bad reference, registry unreachable, no project).
 */
import type {Command} from 'commander';
import {errorMessage} from '../errors';
import {
  formatImageRef,
  imageName,
  parseImageRef,
  type ImageRef,
} from '../image_ref';
import type {BatchJobs} from '../batch/jobs';
import type {PlannedRun} from '../plan';
import type {Registry} from '../registry';
import type {RunStore} from '../runs/store';
import type {Settings} from '../settings';
import type {ConfigVersionStore} from '../config/versions';
import {lazy, type CliContext, type CommandModule} from './context';
import type {GuardrailsPreview} from './plan_guardrails';
import {liveVersions, storeUnreachable, toolConfig} from './tool_config';

// Loaded when the command runs.
const configModule = lazy(
  () => require('../config') as typeof import('../config'),
);
const check = lazy(() => require('../check') as typeof import('../check'));
const convert = lazy(
  () => require('../batch/convert') as typeof import('../batch/convert'),
);
const plan = lazy(() => require('../plan') as typeof import('../plan'));
const guardrails = lazy(
  () => require('./plan_guardrails') as typeof import('./plan_guardrails'),
);

/** Exit codes of `pushrun plan`. */
export const PLAN_EXIT = {planned: 0, invalidConfig: 1, unknown: 2} as const;

/**
 * What the command needs from outside; tests pass fakes. The run store and Batch are made only
 * for a mapping with supersede or limits.
 */
export interface PlanCommandDeps {
  readonly registry: (settings: Settings) => Registry;
  readonly store?: (settings: Settings) => RunStore;
  readonly batch?: (settings: Settings) => BatchJobs;
  /** Where the live config is read (Firestore by default). */
  readonly versions?: (settings: Settings) => ConfigVersionStore;
}

/** The plan as `--json` prints it: the job in proto3 JSON, as `gcloud batch jobs submit` reads it. */
export interface PlanReport {
  readonly image: string;
  readonly digest: string;
  readonly tag: string | null;
  readonly project: string;
  readonly platform: string;
  readonly runs: readonly {
    readonly mapping: string;
    readonly region: string | null;
    readonly streaming: string;
    readonly verdict: PlannedRun['verdict'];
    readonly request: {
      parent: string;
      jobId: string;
      requestId?: string;
      job: Record<string, unknown>;
    } | null;
    readonly skip: {reason: string} | null;
    /** What supersede and limits would do; null for a mapping without them, or a skip. */
    readonly guardrails: GuardrailsPreview | null;
  }[];
}

/** Turns planned runs into the printable report. */
export function planReport(
  digestRef: ImageRef,
  tag: string | undefined,
  project: string,
  platform: string,
  runs: readonly PlannedRun[],
  previews: readonly (GuardrailsPreview | null)[] = [],
): PlanReport {
  return {
    image: imageName(digestRef),
    digest: digestRef.digest!,
    tag: tag ?? null,
    project,
    platform,
    runs: runs.map((r, i) => ({
      mapping: r.mapping.name,
      region: r.region ?? null,
      streaming: r.mapping.streaming,
      verdict: r.verdict,
      request:
        r.kind === 'launch'
          ? {
              parent: r.request.parent,
              jobId: r.request.jobId,
              ...(r.request.requestId && {requestId: r.request.requestId}),
              job: convert().jobToProto3JSON(r.request.job),
            }
          : null,
      skip: r.kind === 'skip' ? r.skip : null,
      guardrails: previews[i] ?? null,
    })),
  };
}

/** The report as people read it. */
export function formatPlanReport(report: PlanReport): string {
  const lines = [
    `image:    ${report.image}@${report.digest}${report.tag ? ` (tag ${report.tag})` : ' (untagged)'}`,
    `project:  ${report.project}`,
    `platform: ${report.platform}`,
  ];
  if (report.runs.length === 0)
    lines.push('', 'no mapping matches: the push starts nothing');
  for (const run of report.runs) {
    lines.push(
      '',
      `mapping ${run.mapping} (streaming: ${run.streaming}, region: ${run.region ?? 'none'})`,
    );
    lines.push(
      `  verdict: ${run.verdict.streamable ? 'streamable' : 'not streamable'}`,
    );
    for (const r of run.verdict.reasons)
      lines.push(`    ✘ ${r.code}: ${r.message}`);
    const req = run.request;
    if (!req) {
      lines.push(`  skip: ${run.skip?.reason}`);
      continue;
    }
    if (run.guardrails)
      lines.push(...guardrails().formatGuardrails(run.guardrails));
    lines.push(`  createJob: ${req.parent}/jobs/${req.jobId}`);
    lines.push(`  requestId: ${req.requestId}`);
    lines.push('  job:');
    for (const l of JSON.stringify(req.job, null, 2).split('\n'))
      lines.push(`    ${l}`);
  }
  return lines.join('\n') + '\n';
}

async function runPlan(
  image: string,
  opts: {tag?: string; config?: string; json?: boolean},
  ctx: CliContext,
  deps: PlanCommandDeps,
): Promise<void> {
  const fail = (message: string) => {
    ctx.err(`pushrun plan: ${message}\n`);
    ctx.setExit(PLAN_EXIT.unknown);
  };
  let ref: ImageRef;
  try {
    ref = parseImageRef(image);
  } catch (e) {
    return fail(errorMessage(e));
  }
  const settings = ctx.settings();
  const {formatProblem} = configModule();
  const used = deps.versions
    ? await toolConfig(opts.config, settings, deps.versions)
    : await toolConfig(opts.config, settings, liveVersions, storeUnreachable);
  const reading = used.reading;
  // Which config this plan is for goes to stderr, so --json stays one document.
  ctx.err(`config: ${used.source}\n`);
  reading.errors.forEach(p => ctx.err(formatProblem(p) + '\n'));
  if (!reading.config) {
    ctx.setExit(PLAN_EXIT.invalidConfig);
    return;
  }
  const config = reading.config;
  const project = settings.project || ref.project;
  if (!project) {
    return fail(
      'set GOOGLE_CLOUD_PROJECT: the image is not in Artifact Registry, so it names no project',
    );
  }
  let facts;
  try {
    facts = await check().inspectImage(
      ref,
      {platform: config.defaults.platform},
      {registry: deps.registry(settings)},
    );
  } catch (e) {
    return fail(
      `could not read ${formatImageRef(ref)} from the registry: ${errorMessage(e)}`,
    );
  }
  if (ref.digest && ref.digest !== facts.digest) {
    return fail(
      `the registry returned ${facts.digest} for ${formatImageRef(ref)}`,
    );
  }
  const {tag: refTag, ...untagged} = ref;
  const digestRef: ImageRef = {...untagged, digest: facts.digest};
  const tag = opts.tag ?? refTag;
  // The same identity the deployed launcher gives jobs, so the plan is the request a push sends.
  const runs = plan().planPush(
    {digestRef, ...(tag !== undefined && {tag})},
    config,
    facts,
    project,
    settings.jobServiceAccount,
  );
  const report = planReport(
    digestRef,
    tag,
    project,
    config.defaults.platform,
    runs,
    await previewRuns(runs, imageName(digestRef), settings, deps),
  );
  ctx.out(
    opts.json
      ? JSON.stringify(report, null, 2) + '\n'
      : formatPlanReport(report),
  );
  ctx.setExit(PLAN_EXIT.planned);
}

/** The guardrails of each run, read from the run store and Batch only when a run has any. */
async function previewRuns(
  runs: readonly PlannedRun[],
  image: string,
  settings: Settings,
  deps: PlanCommandDeps,
): Promise<(GuardrailsPreview | null)[]> {
  const g = runs.some(r => guardrails().usesGuardrails(r)) && guardrails();
  if (!g) return [];
  const store = (deps.store ?? realStore)(settings);
  const batch = (deps.batch ?? realBatch)(settings);
  const read = {
    store,
    batch,
    now: () => new Date(),
    maxEventAgeMs: settings.maxEventAgeMs,
  };
  return Promise.all(
    runs.map(r =>
      g.usesGuardrails(r) ? g.previewGuardrails(r, image, read) : null,
    ),
  );
}

const realStore = (settings: Settings): RunStore =>
  (
    require('../runs/firestore_store') as typeof import('../runs/firestore_store')
  ).makeRunStore(settings);
const realBatch = (settings: Settings): BatchJobs =>
  (
    require('../batch/client') as typeof import('../batch/client')
  ).makeBatchJobs(settings);

/** Builds the `plan` command module; `deps` replaces the registry in tests. */
export function planCommand(
  deps: PlanCommandDeps = {
    registry: settings =>
      (require('../registry') as typeof import('../registry')).makeRegistry(
        settings,
      ),
  },
): CommandModule {
  return (program: Command, ctx: CliContext) => {
    program
      .command('plan')
      .description(
        'Show what a push of IMAGE would start: matching mappings, verdicts and the exact CreateJob requests.',
      )
      .argument('<image>', 'image reference by tag or digest')
      .option(
        '--tag <tag>',
        'the tag of the push (default: the tag in IMAGE; none for a digest)',
      )
      .option(
        '--config <file>',
        'plan against this file (default: the live version, else $PUSHRUN_CONFIG or config/pushrun.yaml)',
      )
      .option(
        '--json',
        'print {image, digest, tag, project, platform, runs: [{mapping, verdict, request, skip}]}',
      )
      .action(
        (
          image: string,
          opts: {tag?: string; config?: string; json?: boolean},
        ) => runPlan(image, opts, ctx, deps),
      );
  };
}

/** Registers `plan` with the real registry. */
export const registerPlanCommand: CommandModule = planCommand();
