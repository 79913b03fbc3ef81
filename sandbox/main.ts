/**
 * `npm run sandbox`: the whole pushrun loop on this machine. A real registry, the Pub/Sub and
 * Firestore emulators, the real functions served by functions-framework, and the Batch
 * stand-in (the only fake: Google Batch has no emulator). Every part is a child it owns.
 */
import * as path from 'node:path';
import {DEMO_OUTCOME_LABEL} from './batch_standin';
import {repoRoot} from './functions';
import {pushImage, type ImageSpec} from './images';
import {registryInstalled} from './registry';
import {formatRunTable} from '../shared/cli/runs_command';
import type {RunRecord} from '../shared/runs/record';
import type {RunStore} from '../shared/runs/store';
import {startStack, type Stack} from './stack';
import {liveEdit} from './live_edit';
import {
  printRunStats,
  supersedeDemo,
  supersedeMappingYaml,
} from './supersede_demo';

// The functions look for a new live config this often: a live edit is used a second later.
const CONFIG_TTL_MS = 1000;

const PROJECT = 'pushrun-sandbox';
const GCR_TOPIC = 'gcr';
const EVENTS_TOPIC = 'pushrun-batch-events';
const NOTIFY_TOPIC = 'pushrun-notifications';

/** Sandbox options from the command line. */
export interface SandboxOptions {
  /** Run the demo to its end and exit (0 only when every demo run ended as expected). */
  readonly once: boolean;
  /** The Artifact Registry location the sandbox's references are spelled with. */
  readonly location: string;
  /** How long `--once` waits for the demo runs. */
  readonly timeoutMs: number;
}

/** A demo image: what it is built from, and how its run should end. */
interface Demo {
  readonly repo: string;
  readonly spec: ImageSpec;
  readonly expect: {state: string; streaming: boolean; reason?: string};
  readonly what: string;
}

const DEMOS: readonly Demo[] = [
  {
    repo: 'acme/demo/app',
    spec: 'clean',
    expect: {state: 'SUCCEEDED', streaming: true},
    what: 'a clean image: streams',
  },
  {
    repo: 'acme/demo/app-dup',
    spec: 'duplicate-layer',
    expect: {state: 'SUCCEEDED', streaming: false, reason: 'DUPLICATE_LAYER'},
    what: 'a duplicated layer: pulled instead (streaming: auto)',
  },
  {
    repo: 'acme/demo/strict-empty',
    spec: 'empty-layer',
    expect: {state: 'SKIPPED', streaming: false, reason: 'EMPTY_LAYER'},
    what: 'an empty layer under streaming: required: skipped',
  },
];

/** Parses `--once`, `--location L`, `--timeout S`. */
export function parseSandboxArgs(argv: readonly string[]): SandboxOptions {
  const once = argv.includes('--once');
  const at = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    once,
    location: at('--location') ?? 'us-central1',
    timeoutMs: Number(at('--timeout') ?? 180) * 1000,
  };
}

/** The sandbox's mappings file: an `auto` mapping, a `required` one, and one that supersedes. */
export function sandboxConfig(location: string): string {
  const host = `${location}-docker.pkg.dev/acme/demo`;
  return `# Written by \`npm run sandbox\`; edit config/pushrun.yaml for your own mappings.
defaults:
  streaming: auto
  platform: linux/amd64
notifications:
  topic: ${NOTIFY_TOPIC}
  batchEventsTopic: ${EVENTS_TOPIC}
mappings:
  - name: demo
    match:
      image: ${host}/app*
    streaming: auto
    job:
      taskGroups:
        - taskCount: 1
          taskSpec:
            runnables:
              - container:
                  commands: ["echo", "hello from \${IMAGE_NAME}:\${IMAGE_TAG}"]
            maxRunDuration: 600s
      logsPolicy: {destination: CLOUD_LOGGING}
  - name: strict
    match:
      image: ${host}/strict-*
    streaming: required
    job:
      taskGroups:
        - taskSpec:
            runnables:
              - container:
                  commands: ["echo", "\${MAPPING}"]
      labels: {${DEMO_OUTCOME_LABEL}: succeeded}
${supersedeMappingYaml(host)}`;
}

/** Whether a run record ended as its demo expects. */
export function endedAsExpected(run: RunRecord, demo: Demo): boolean {
  return (
    run.state === demo.expect.state &&
    run.streaming.enabled === demo.expect.streaming &&
    (!demo.expect.reason ||
      run.streaming.reasons.some(r => r.code === demo.expect.reason))
  );
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** `npm run sandbox` installs docker-registry first when it can; else this says how. */
function haveDockerRegistry(): boolean {
  if (registryInstalled()) return true;
  say(
    'docker-registry is missing. Install it with: sudo apt-get update && sudo apt-get install -y docker-registry',
  );
  return false;
}

/** Reads a function's JSON log line into one readable line. */
function describeLog(
  source: string,
  line: Record<string, unknown>,
): string | undefined {
  const message = String(line.message ?? '');
  if (!message) return undefined;
  const ids = ['jobId', 'mapping', 'state']
    .filter(k => line[k])
    .map(k => `${k}=${line[k]}`);
  return `  [${source}] ${message}${ids.length ? `  (${ids.join(' ')})` : ''}`;
}

/** Runs the sandbox; resolves to the exit code. */
export async function runSandbox(opts: SandboxOptions): Promise<number> {
  // Set once the parts are up; the signal handler stops whatever has started by then.
  const running: {stack?: Stack} = {};
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    say('\nstopping every part...');
    void (running.stack?.stop() ?? Promise.resolve()).then(() =>
      process.exit(signal === 'SIGINT' ? 130 : 143),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  if (!haveDockerRegistry()) return 2;
  say(
    'starting docker-registry, the Pub/Sub and Firestore emulators, the functions and the Batch stand-in...',
  );
  const started = await startStack({
    project: PROJECT,
    configText: sandboxConfig(opts.location),
    configDir: path.join(repoRoot(), '.pushrun-sandbox'),
    functions: ['onImagePush', 'onJobStateChange'],
    bridgeLocation: opts.location,
    pushSubscriptions: true,
    lifecycleStepMs: 1500,
    topics: {gcr: GCR_TOPIC, events: EVENTS_TOPIC, notifications: NOTIFY_TOPIC},
    env: {
      PUSHRUN_RECONCILE_AFTER: '30s',
      PUSHRUN_CONFIG_TTL: `${CONFIG_TTL_MS / 1000}s`,
    },
    onLog: (target, line) => {
      const text = describeLog(target, line);
      if (text) say(text);
    },
  });
  if ('missing' in started) {
    say(`The sandbox cannot start: ${started.missing}.`);
    return 2;
  }
  const stack = (running.stack = started);
  try {
    say(
      `  docker-registry     ${stack.registry.baseUrl} (notifies ${stack.bridgeUrl})`,
    );
    say(`  Pub/Sub emulator    ${stack.pubsubHost}`);
    say(`  Firestore emulator  ${stack.firestoreHost}`);
    say(
      `  Batch stand-in      ${stack.standin.endpoint} (a fake: Batch has no emulator)`,
    );
    for (const [target, fn] of Object.entries(stack.functions)) {
      say(`  ${target.padEnd(19)} ${fn.url} (functions-framework)`);
    }

    await stack.watchNotifications(message =>
      say(
        `  [notification] ${message.attributes.type} mapping=${message.attributes.mapping} ` +
          `state=${message.attributes.state}`,
      ),
    );

    say('\npushing the demo images:');
    const pushed: {demo: Demo; digest: string}[] = [];
    for (const demo of DEMOS) {
      const digest = await pushImage(
        stack.registry.baseUrl,
        demo.repo,
        'v1',
        demo.spec,
      );
      pushed.push({demo, digest});
      say(`  ${opts.location}-docker.pkg.dev/${demo.repo}:v1 (${demo.what})`);
    }

    const store = stack.store();
    const ok = await waitForDemoRuns(store, pushed, opts.timeoutMs);
    const runs = await store.list({limit: 20});
    say('\nruns:\n' + formatRunTable(runs));
    for (const {demo, digest} of pushed) {
      const run = runs.find(r => r.digest === digest);
      const good = run !== undefined && endedAsExpected(run, demo);
      say(
        `${good ? '✔' : '✘'} ${demo.repo}: expected ${demo.expect.state}, got ${run?.state ?? 'no run'}`,
      );
    }
    const superseded = await supersedeDemo(
      stack,
      {location: opts.location, timeoutMs: 60_000},
      say,
    );
    const edit = await liveEdit(
      stack,
      {location: opts.location, ttlMs: CONFIG_TTL_MS, timeoutMs: 30_000},
      say,
    );
    say(
      `\nEdit the mappings live yourself (used within PUSHRUN_CONFIG_TTL=${CONFIG_TTL_MS / 1000}s, no deploy):\n` +
        edit.commands.map(c => `  ${c}`).join('\n'),
    );
    await printRunStats(stack, say);
    if (opts.once) return ok && superseded.ok && edit.ok ? 0 : 1;

    say(`
The sandbox stays up. Push your own image and watch it run, for example:
  skopeo copy oci:DIR docker://${stack.registry.host}/acme/demo/app:v2 --dest-tls-verify=false
It reaches pushrun as ${opts.location}-docker.pkg.dev/acme/demo/app:v2. Review runs with:
  FIRESTORE_EMULATOR_HOST=${stack.firestoreHost} GOOGLE_CLOUD_PROJECT=${PROJECT} npx pushrun runs
Mappings: ${stack.configFile}. Ctrl-C stops every part.`);
    await new Promise<never>(() => undefined);
    return 0;
  } finally {
    if (!interrupted) await stack.stop();
  }
}

/** Polls the run store until each pushed demo has a finished run, or the time is up. */
async function waitForDemoRuns(
  store: RunStore,
  pushed: readonly {demo: Demo; digest: string}[],
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const done = new Set<string>();
  while (Date.now() < deadline) {
    const runs = await store.list({limit: 50});
    for (const {demo, digest} of pushed) {
      const run = runs.find(r => r.digest === digest);
      if (
        run &&
        ['SUCCEEDED', 'FAILED', 'CANCELLED', 'SKIPPED'].includes(run.state) &&
        run.notifiedAt
      ) {
        done.add(digest);
        if (!endedAsExpected(run, demo)) return false;
      }
    }
    if (done.size === pushed.length) return true;
    await new Promise(r => setTimeout(r, 500));
  }
  return false;
}

if (require.main === module) {
  runSandbox(parseSandboxArgs(process.argv.slice(2))).then(
    code => process.exit(code),
    err => {
      console.error(`sandbox: ${err instanceof Error ? err.stack : err}`);
      process.exit(1);
    },
  );
}
