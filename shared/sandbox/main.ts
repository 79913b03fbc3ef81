/**
 * `npm run sandbox`: the whole pushrun loop on this machine. A real registry, the Pub/Sub and
 * Firestore emulators, the real functions served by functions-framework, and the Batch
 * stand-in (the only fake: Google Batch has no emulator). Every part is a child it owns.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {PubSub, Topic} from '@google-cloud/pubsub';
import {
  startBatchStandin,
  BatchStandin,
  DEMO_OUTCOME_LABEL,
} from '../../test/support/batch_standin';
import {batchStateMessage} from '../../test/support/batch_messages';
import {
  startFirestoreEmulator,
  startPubsubEmulator,
} from '../../test/support/emulators';
import {repoRoot, serveFunction} from '../../test/support/functions';
import {pushImage, type ImageSpec} from '../../test/support/images';
import {registryInstalled, startRegistry} from '../../test/support/registry';
import {formatRunTable} from '../cli/runs_command';
import type {RunRecord} from '../runs/record';
import type {RunStore} from '../runs/store';
import {startBridge} from './bridge';

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

/** The sandbox's mappings file: one `auto` mapping and one `required` mapping. */
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
`;
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

async function ensureTopic(pubsub: PubSub, name: string): Promise<Topic> {
  const topic = pubsub.topic(name);
  const [exists] = await topic.exists();
  if (!exists) await topic.create();
  return topic;
}

/** Runs the sandbox; resolves to the exit code. */
export async function runSandbox(opts: SandboxOptions): Promise<number> {
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    say('\nstopping every part...');
    void stopAll().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    if (!haveDockerRegistry()) return 2;
    say('starting the Pub/Sub and Firestore emulators...');
    const [pubsubEmu, firestoreEmu] = await Promise.all([
      startPubsubEmulator(),
      startFirestoreEmulator(),
    ]);
    if (pubsubEmu) stops.push(() => pubsubEmu.stop());
    if (firestoreEmu) stops.push(() => firestoreEmu.stop());
    if (!pubsubEmu || !firestoreEmu) {
      say(
        'The sandbox needs the Google Cloud CLI with its Pub/Sub and Firestore emulators ' +
          '(and Java). Install them with:\n' +
          '  gcloud components install pubsub-emulator cloud-firestore-emulator beta\n' +
          "or, on Debian with Google's apt repository:\n" +
          '  apt-get install -y google-cloud-cli-pubsub-emulator google-cloud-cli-firestore-emulator default-jre-headless',
      );
      return 2;
    }
    // Every client in this process and in the functions talks to the emulators.
    process.env.PUBSUB_EMULATOR_HOST = pubsubEmu.host;
    process.env.FIRESTORE_EMULATOR_HOST = firestoreEmu.host;
    process.env.GOOGLE_CLOUD_PROJECT = PROJECT;
    // No metadata server on a workstation: do not let the client libraries go looking for one.
    process.env.METADATA_SERVER_DETECTION = 'none';
    const pubsub = new PubSub({projectId: PROJECT});
    const [gcr, events, notifications] = await Promise.all(
      [GCR_TOPIC, EVENTS_TOPIC, NOTIFY_TOPIC].map(t => ensureTopic(pubsub, t)),
    );
    say(
      `  Pub/Sub emulator on ${pubsubEmu.host}, Firestore emulator on ${firestoreEmu.host}`,
    );

    const standin: BatchStandin = await startBatchStandin({
      lifecycle: {
        stepMs: 1500,
        onStateChange: async (job, state) => {
          const msg = batchStateMessage(job, state);
          await events.publishMessage({
            data: msg.data,
            attributes: msg.attributes,
          });
        },
      },
    });
    stops.push(() => standin.stop());
    say(
      `  Batch API stand-in (a fake: Batch has no emulator) on ${standin.endpoint}`,
    );

    const dir = path.join(repoRoot(), '.pushrun-sandbox');
    fs.mkdirSync(dir, {recursive: true});
    const configFile = path.join(dir, 'pushrun.yaml');
    fs.writeFileSync(configFile, sandboxConfig(opts.location));

    const bridge = await startBridge(opts.location, async payload => {
      await gcr.publishMessage({json: payload});
    });
    stops.push(() => bridge.close());
    const registry = await startRegistry({notificationUrl: bridge.url});
    stops.push(() => registry.stop());
    say(`  docker-registry on ${registry.baseUrl}, notifying ${bridge.url}`);

    const env = {
      PUSHRUN_CONFIG: configFile,
      GOOGLE_CLOUD_PROJECT: PROJECT,
      PUSHRUN_REGISTRY_ENDPOINT: registry.baseUrl,
      PUSHRUN_BATCH_ENDPOINT: standin.endpoint,
      PUBSUB_EMULATOR_HOST: pubsubEmu.host,
      FIRESTORE_EMULATOR_HOST: firestoreEmu.host,
      PUSHRUN_RECONCILE_AFTER: '30s',
      METADATA_SERVER_DETECTION: 'none',
    };
    const show = (source: string) => (line: Record<string, unknown>) => {
      const text = describeLog(source, line);
      if (text) say(text);
    };
    const launcher = await serveFunction(
      'onImagePush',
      env,
      show('onImagePush'),
    );
    stops.push(() => launcher.stop());
    const recorder = await serveFunction(
      'onJobStateChange',
      env,
      show('onJobStateChange'),
    );
    stops.push(() => recorder.stop());
    say(
      `  onImagePush on ${launcher.url}, onJobStateChange on ${recorder.url}`,
    );

    // Push subscriptions deliver as Eventarc would; the path names the topic for the framework.
    await gcr.createSubscription('sandbox-on-image-push', {
      pushConfig: {
        pushEndpoint: `${launcher.url}/projects/${PROJECT}/topics/${GCR_TOPIC}`,
      },
      ackDeadlineSeconds: 60,
    });
    await events.createSubscription('sandbox-on-job-state-change', {
      pushConfig: {
        pushEndpoint: `${recorder.url}/projects/${PROJECT}/topics/${EVENTS_TOPIC}`,
      },
      ackDeadlineSeconds: 60,
    });
    const [watch] = await notifications.createSubscription('sandbox-watch');
    watch.on('message', message => {
      message.ack();
      say(
        `  [notification] ${message.attributes.type} mapping=${message.attributes.mapping} ` +
          `state=${message.attributes.state}`,
      );
    });
    stops.push(() => watch.close());

    say('\npushing the demo images:');
    const pushed: {demo: Demo; digest: string}[] = [];
    for (const demo of DEMOS) {
      const digest = await pushImage(
        registry.baseUrl,
        demo.repo,
        'v1',
        demo.spec,
      );
      pushed.push({demo, digest});
      say(`  ${opts.location}-docker.pkg.dev/${demo.repo}:v1 (${demo.what})`);
    }

    const {makeRunStore} = await import('../runs/firestore_store');
    const store: RunStore = makeRunStore(process.env);
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
    if (opts.once) return ok ? 0 : 1;

    say(`
The sandbox stays up. Push your own image and watch it run, for example:
  skopeo copy oci:DIR docker://${registry.baseUrl.replace(/^https?:\/\//, '')}/acme/demo/app:v2 --dest-tls-verify=false
It reaches pushrun as ${opts.location}-docker.pkg.dev/acme/demo/app:v2. Review runs with:
  FIRESTORE_EMULATOR_HOST=${firestoreEmu.host} GOOGLE_CLOUD_PROJECT=${PROJECT} npx pushrun runs
Mappings: ${configFile}. Ctrl-C stops every part.`);
    await new Promise<never>(() => undefined);
    return 0;
  } finally {
    if (!interrupted) await stopAll();
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
