/**
 * `pushrun config validate [FILE] [--online]`: exit 0 when the config is valid (warnings printed),
 * 1 with one `FILE:LINE:COL message` line per problem, 2 when `--online` could not check.
 * `--online` also asks Artifact Registry about each mapping's repository, and Pub/Sub whether
 * each account the jobs run as may publish their state messages to the Batch events topic.
 */
import type {Command} from 'commander';
import type {Mapping, Problem, PushrunConfig} from '../config';
import {literalImageParts} from '../config/image_glob';
import {errorMessage} from '../errors';
import {isMultiRegion, locationContains} from '../locations';
import {asObject} from '../containers';
import type {Settings} from '../settings';
import {topicName} from '../topics';
import {lazy, type CliContext, type CommandModule} from './context';
import {addLiveCommands, type LiveCommandDeps} from './config_live_command';

// The config reader (YAML, the JSON Schema, the Batch protos) is loaded when the command runs.
const configModule = lazy(
  () => require('../config') as typeof import('../config'),
);

/** Exit codes of `pushrun config validate`. */
export const VALIDATE_EXIT = {valid: 0, invalid: 1, unknown: 2} as const;

/** A repository as `getRepository` returns it; `format` is an enum name or number. */
export interface RepositoryInfo {
  readonly name?: string | null;
  readonly format?: string | number | null;
}

/** The one Artifact Registry call `--online` makes (ArtifactRegistryClient fits). */
export interface RepositoryReader {
  getRepository(request: {
    name: string;
  }): Promise<readonly [RepositoryInfo, ...unknown[]]>;
}

/** A topic's IAM policy, as `topic.iam.getPolicy()` of `@google-cloud/pubsub` answers it. */
export interface TopicPolicy {
  readonly bindings?:
    | readonly {
        readonly role?: string | null;
        readonly members?: readonly string[] | null;
      }[]
    | null;
}

/** The one Pub/Sub call `--online` makes (PubSub fits): a topic's IAM policy. */
export interface TopicPolicyReader {
  topic(name: string): {
    readonly iam: {
      getPolicy(): Promise<readonly [TopicPolicy, ...unknown[]]>;
    };
  };
}

/** What the command needs from outside; tests pass fakes. */
export interface ConfigCommandDeps {
  /** Called once, on the first `--online` check. */
  readonly repositories: () => RepositoryReader;
  /** Called once, on the first `--online` check. */
  readonly topics: () => TopicPolicyReader;
  /** The live config store and terminal for apply, diff, history, show and rollback. */
  readonly live?: LiveCommandDeps;
}

const DOCKER_FORMAT = 1;
const GRPC_NOT_FOUND = 5;

/** The real Artifact Registry and Pub/Sub clients, loaded only when `--online` is asked for. */
export const DEFAULT_CONFIG_COMMAND_DEPS: ConfigCommandDeps = {
  repositories: () => {
    const {ArtifactRegistryClient} = require('@google-cloud/artifact-registry');
    return new ArtifactRegistryClient() as RepositoryReader;
  },
  topics: () => {
    const {PubSub} = require('@google-cloud/pubsub');
    return new PubSub() as TopicPolicyReader;
  },
};

/** What checking the repositories found: problems at mappings, and checks that could not run. */
export interface OnlineFindings {
  readonly problems: Problem[];
  readonly unchecked: string[];
}

/**
 * Confirms that each mapping's literal Artifact Registry repository exists, holds Docker
 * images, and sits in a location that contains the mapping's region.
 */
export async function checkRepositories(
  config: PushrunConfig,
  reader: RepositoryReader,
): Promise<OnlineFindings> {
  const problems: Problem[] = [];
  const unchecked: string[] = [];
  const at = (
    m: Mapping,
    message: string,
    severity: Problem['severity'] = 'error',
  ) => problems.push({...m.imagePosition, message, severity});
  for (const m of config.mappings) {
    const {location, project, repository} = literalImageParts(m.imageGlob);
    if (!location || !project || !repository) {
      at(
        m,
        'not checked online: match.image names no literal Artifact Registry repository',
        'warning',
      );
      continue;
    }
    const name = `projects/${project}/locations/${location}/repositories/${repository}`;
    let repo: RepositoryInfo;
    try {
      [repo] = await reader.getRepository({name});
    } catch (e) {
      if ((e as {code?: unknown}).code === GRPC_NOT_FOUND) {
        at(m, `repository ${name} does not exist`);
      } else {
        unchecked.push(
          `could not check repository ${name} for mapping "${m.name}": ${errorMessage(e)}`,
        );
      }
      continue;
    }
    if (repo.format !== 'DOCKER' && repo.format !== DOCKER_FORMAT) {
      at(
        m,
        `repository ${name} is a ${repo.format ?? 'unknown'} repository, not DOCKER`,
      );
    }
    const repoLocation =
      /\/locations\/([^/]+)\//.exec(repo.name ?? name)?.[1] ?? location;
    const region =
      m.region ?? (isMultiRegion(repoLocation) ? undefined : repoLocation);
    if (region && !locationContains(repoLocation, region)) {
      at(
        m,
        `repository ${name} is in ${repoLocation}, which does not contain the job region ${region}`,
      );
    }
  }
  return {problems, unchecked};
}

/** Roles that hold `pubsub.topics.publish` (https://cloud.google.com/pubsub/docs/access-control). */
const PUBLISHER_ROLES = [
  'roles/pubsub.publisher',
  'roles/pubsub.editor',
  'roles/pubsub.admin',
];

/**
 * Confirms that each account a mapping's jobs run as — the one its template names
 * (`allocationPolicy.serviceAccount.email`), else `PUSHRUN_JOB_SERVICE_ACCOUNT` — may publish
 * to the Batch events topic: a job's own service account needs `roles/pubsub.publisher` on its
 * notifications topic (https://cloud.google.com/batch/docs/enable-notifications), or the state
 * messages never arrive. Reads the topic's own IAM policy; grants on the project do not show.
 */
export async function checkTopicPublishers(
  config: PushrunConfig,
  reader: TopicPolicyReader,
  settings: Pick<Settings, 'project' | 'jobServiceAccount'>,
): Promise<OnlineFindings> {
  const configured = config.notifications.batchEventsTopic;
  const topic = settings.project
    ? topicName(configured, settings.project)
    : configured;
  const accounts = config.mappings.map(
    m => [m, templateServiceAccount(m) ?? settings.jobServiceAccount] as const,
  );
  if (!accounts.some(([, account]) => account))
    return {problems: [], unchecked: []};
  let policy: TopicPolicy;
  try {
    [policy] = await reader.topic(topic).iam.getPolicy();
  } catch (e) {
    const why =
      (e as {code?: unknown}).code === GRPC_NOT_FOUND
        ? 'the topic does not exist (deploy.sh creates it)'
        : errorMessage(e);
    return {
      problems: [],
      unchecked: [`could not check who may publish to topic ${topic}: ${why}`],
    };
  }
  const publishers = new Set(
    (policy.bindings ?? [])
      .filter(b => PUBLISHER_ROLES.includes(b.role ?? ''))
      .flatMap(b => b.members ?? []),
  );
  const problems: Problem[] = [];
  for (const [m, account] of accounts) {
    if (!account || publishers.has(`serviceAccount:${account}`)) continue;
    problems.push({
      ...m.imagePosition,
      severity: 'error',
      message: `the jobs run as ${account}, which lacks roles/pubsub.publisher on topic ${topic}: their state messages would never arrive (deploy.sh grants it)`,
    });
  }
  return {problems, unchecked: []};
}

/** The service account a mapping's template names (the job is in canonical proto3 JSON). */
function templateServiceAccount(m: Mapping): string | undefined {
  const email = asObject(
    asObject(m.job.allocationPolicy)?.serviceAccount,
  )?.email;
  return typeof email === 'string' && email ? email : undefined;
}

async function runValidate(
  file: string | undefined,
  opts: {online?: boolean},
  ctx: CliContext,
  deps: ConfigCommandDeps,
): Promise<void> {
  const {configFile, formatProblem, readConfig} = configModule();
  const name = configFile(file, ctx.settings());
  const reading = readConfig(name);
  const print = (p: Problem) => ctx.err(formatProblem(p) + '\n');
  reading.errors.forEach(print);
  reading.warnings.forEach(print);
  if (!reading.config) {
    ctx.setExit(VALIDATE_EXIT.invalid);
    return;
  }
  if (opts.online) {
    let findings: OnlineFindings;
    try {
      const repositories = await checkRepositories(
        reading.config,
        deps.repositories(),
      );
      const publishers = await checkTopicPublishers(
        reading.config,
        deps.topics(),
        ctx.settings(),
      );
      findings = {
        problems: [...repositories.problems, ...publishers.problems],
        unchecked: [...repositories.unchecked, ...publishers.unchecked],
      };
    } catch (e) {
      ctx.err(
        `pushrun config validate: could not check online: ${errorMessage(e)}\n`,
      );
      ctx.setExit(VALIDATE_EXIT.unknown);
      return;
    }
    findings.problems.forEach(print);
    findings.unchecked.forEach(u => ctx.err(`${name}: ${u}\n`));
    if (findings.problems.some(p => p.severity === 'error')) {
      ctx.setExit(VALIDATE_EXIT.invalid);
      return;
    }
    if (findings.unchecked.length) {
      ctx.setExit(VALIDATE_EXIT.unknown);
      return;
    }
  }
  const n = reading.config.mappings.length;
  ctx.out(
    `${name}: valid, ${n} mapping${n === 1 ? '' : 's'}${opts.online ? ', repositories and topic grants checked' : ''}\n`,
  );
  ctx.setExit(VALIDATE_EXIT.valid);
}

/** Builds the `config` command module; `deps` replaces the Google clients in tests. */
export function configCommand(
  deps: ConfigCommandDeps = DEFAULT_CONFIG_COMMAND_DEPS,
): CommandModule {
  return (program: Command, ctx: CliContext) => {
    const config = program
      .command('config')
      .description('Work with the mappings file and its live versions.');
    config
      .command('validate')
      .description(
        'Validate the mappings file; exit 0 valid, 1 with one FILE:LINE:COL line per problem.',
      )
      .argument(
        '[file]',
        'the config file (default: $PUSHRUN_CONFIG, else config/pushrun.yaml)',
      )
      .option(
        '--online',
        "also check in Artifact Registry that each mapping's repository exists, is DOCKER, and fits its region, and in Pub/Sub that the jobs' accounts may publish to the Batch events topic",
      )
      .action((file: string | undefined, opts: {online?: boolean}) =>
        runValidate(file, opts, ctx, deps),
      );
    addLiveCommands(config, ctx, deps.live);
  };
}

/** Registers `config validate` with the real Artifact Registry and Pub/Sub clients. */
export const registerConfigCommand: CommandModule = configCommand();
