/**
 * The whole pushrun stack on loopback, each part a child or server this process owns: a real
 * docker-registry, the Pub/Sub and Firestore emulators, the real functions under
 * functions-framework, and the Batch stand-in (the only fake: Batch has no emulator).
 * The sandbox and the end-to-end tests both start it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type {Message, PubSub, Topic} from '@google-cloud/pubsub';
import {batchStateMessage} from './batch_messages';
import {startBatchStandin, type BatchStandin} from './batch_standin';
import {startFirestoreEmulator, startPubsubEmulator} from './emulators';
import {serveFunction, type ServedFunction} from './functions';
import {registryInstalled, startRegistry, type TestRegistry} from './registry';
import type {RunStore} from '../shared/runs/store';
import {parseSettings} from '../shared/settings';
import {startBridge} from './bridge';

/** The functions the stack can serve (DESIGN.md "Functions"). */
export const FUNCTION_TARGETS = [
  'onImagePush',
  'onJobStateChange',
  'reconcileRuns',
] as const;
/** One of the three functions. */
export type FunctionTarget = (typeof FUNCTION_TARGETS)[number];

/** What to start, and how the parts are wired. */
export interface StackOptions {
  readonly project: string;
  /** The mappings file's text; written to `configDir` (a temp folder by default). */
  readonly configText: string;
  readonly configDir?: string;
  readonly functions: readonly FunctionTarget[];
  /** Registry push notifications become `gcr` messages spelled for this location. */
  readonly bridgeLocation?: string;
  /** Pub/Sub push subscriptions deliver `gcr` and the events topic to the functions. */
  readonly pushSubscriptions?: boolean;
  /** The stand-in walks each job to its end, a step per this many ms, publishing as Batch does. */
  readonly lifecycleStepMs?: number;
  readonly topics?: {gcr?: string; events?: string; notifications?: string};
  /** Added to every function's environment. */
  readonly env?: NodeJS.ProcessEnv;
  readonly onLog?: (
    target: FunctionTarget,
    line: Record<string, unknown>,
  ) => void;
  /** Leave the emulators running on stop (tests share them across suites). */
  readonly keepEmulators?: boolean;
}

/** A running stack. */
export interface Stack {
  readonly project: string;
  readonly registry: TestRegistry;
  readonly standin: BatchStandin;
  readonly pubsub: PubSub;
  readonly topics: {
    readonly gcr: Topic;
    readonly events: Topic;
    readonly notifications: Topic;
  };
  readonly pubsubHost: string;
  readonly firestoreHost: string;
  readonly functions: Readonly<Partial<Record<FunctionTarget, ServedFunction>>>;
  /** The environment the functions run with. */
  readonly env: Readonly<NodeJS.ProcessEnv>;
  readonly configFile: string;
  readonly bridgeUrl?: string;
  /** The run store the functions write, read through the real Firestore adapter. */
  store(): RunStore;
  /** Every run notification published from now on, acknowledged as it arrives; stops with the stack. */
  watchNotifications(onMessage?: (m: Message) => void): Promise<Message[]>;
  stop(): Promise<void>;
}

/** Why the stack cannot start here, with the command that fixes it. */
export interface StackMissing {
  readonly missing: string;
}

/**
 * Starts every part; on a machine without docker-registry or the emulators, resolves to what
 * is missing instead. Sets the emulator variables in this process, so clients created here
 * talk to the same emulators as the functions.
 */
export async function startStack(
  opts: StackOptions,
): Promise<Stack | StackMissing> {
  if (!registryInstalled()) {
    return {
      missing:
        'docker-registry is not installed (apt-get install -y docker-registry)',
    };
  }
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const [pubsubEmu, firestoreEmu] = await Promise.all([
      startPubsubEmulator(),
      startFirestoreEmulator(),
    ]);
    if (!opts.keepEmulators) {
      if (pubsubEmu) stops.push(() => pubsubEmu.stop());
      if (firestoreEmu) stops.push(() => firestoreEmu.stop());
    }
    if (!pubsubEmu || !firestoreEmu) {
      await stop();
      return {
        missing:
          'the Pub/Sub and Firestore emulators of the Google Cloud CLI are not installed ' +
          '(gcloud components install pubsub-emulator cloud-firestore-emulator beta; they need Java)',
      };
    }
    const emulatorEnv = {
      PUBSUB_EMULATOR_HOST: pubsubEmu.host,
      FIRESTORE_EMULATOR_HOST: firestoreEmu.host,
      // No metadata server on a workstation: the client libraries must not go looking for one.
      METADATA_SERVER_DETECTION: 'none',
    };
    const saved = Object.keys(emulatorEnv).map(
      k => [k, process.env[k]] as const,
    );
    Object.assign(process.env, emulatorEnv);
    // Put the environment back on stop, so later clients never reach a stopped emulator.
    stops.unshift(async () => {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });

    // Loaded here, after the emulator variables are set.
    const {PubSub} = await import('@google-cloud/pubsub');
    const pubsub = new PubSub({
      projectId: opts.project,
      apiEndpoint: pubsubEmu.host,
    });
    const names = {
      gcr: opts.topics?.gcr ?? 'gcr',
      events: opts.topics?.events ?? 'pushrun-batch-events',
      notifications: opts.topics?.notifications ?? 'pushrun-notifications',
    };
    const [gcr, events, notifications] = await Promise.all(
      [names.gcr, names.events, names.notifications].map(n =>
        ensureTopic(pubsub, n),
      ),
    );

    const standin = await startBatchStandin(
      opts.lifecycleStepMs
        ? {
            lifecycle: {
              stepMs: opts.lifecycleStepMs,
              onStateChange: async (job, state) => {
                const msg = batchStateMessage(job, state);
                await events.publishMessage({
                  data: msg.data,
                  attributes: msg.attributes,
                });
              },
            },
          }
        : {},
    );
    stops.push(() => standin.stop());

    let bridgeUrl: string | undefined;
    if (opts.bridgeLocation) {
      const bridge = await startBridge(opts.bridgeLocation, async payload => {
        await gcr.publishMessage({json: payload});
      });
      stops.push(() => bridge.close());
      bridgeUrl = bridge.url;
    }
    const registry = await startRegistry(
      bridgeUrl ? {notificationUrl: bridgeUrl} : {},
    );
    stops.push(() => registry.stop());

    const configDir =
      opts.configDir ??
      fs.mkdtempSync(path.join(os.tmpdir(), 'pushrun-stack-'));
    if (!opts.configDir) {
      stops.push(async () =>
        fs.rmSync(configDir, {recursive: true, force: true}),
      );
    }
    fs.mkdirSync(configDir, {recursive: true});
    const configFile = path.join(configDir, 'pushrun.yaml');
    fs.writeFileSync(configFile, opts.configText);

    const env: NodeJS.ProcessEnv = {
      PUSHRUN_CONFIG: configFile,
      GOOGLE_CLOUD_PROJECT: opts.project,
      PUSHRUN_REGISTRY_ENDPOINT: registry.baseUrl,
      PUSHRUN_BATCH_ENDPOINT: standin.endpoint,
      PUBSUB_EMULATOR_HOST: pubsubEmu.host,
      FIRESTORE_EMULATOR_HOST: firestoreEmu.host,
      METADATA_SERVER_DETECTION: 'none',
      ...opts.env,
    };
    const served = await Promise.all(
      opts.functions.map(target =>
        serveFunction(target, env, line => opts.onLog?.(target, line)),
      ),
    );
    const functions: Partial<Record<FunctionTarget, ServedFunction>> = {};
    opts.functions.forEach((target, i) => {
      functions[target] = served[i];
      stops.push(() => served[i].stop());
    });

    if (opts.pushSubscriptions) {
      // Delivered as Eventarc would; the path names the topic for functions-framework.
      const deliver = async (topic: Topic, target: FunctionTarget) => {
        const fn = functions[target];
        if (!fn) return;
        const [sub] = await topic.createSubscription(
          `stack-${target}-${Date.now()}`,
          {
            pushConfig: {
              pushEndpoint: `${fn.url}/projects/${opts.project}/topics/${topic.name.split('/').pop()}`,
            },
            ackDeadlineSeconds: 60,
          },
        );
        stops.push(() => sub.delete());
      };
      await deliver(gcr, 'onImagePush');
      await deliver(events, 'onJobStateChange');
    }

    let store: RunStore | undefined;
    return {
      project: opts.project,
      registry,
      standin,
      pubsub,
      topics: {gcr, events, notifications},
      pubsubHost: pubsubEmu.host,
      firestoreHost: firestoreEmu.host,
      functions,
      env,
      configFile,
      ...(bridgeUrl && {bridgeUrl}),
      store() {
        const {makeRunStore} =
          require('../shared/runs/firestore_store') as typeof import('../shared/runs/firestore_store');
        return (store ??= makeRunStore(parseSettings(env)));
      },
      async watchNotifications(onMessage) {
        const messages: Message[] = [];
        const [sub] = await notifications.createSubscription(
          `watch-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
        );
        sub.on('message', (m: Message) => {
          m.ack();
          messages.push(m);
          onMessage?.(m);
        });
        stops.push(() => sub.close());
        return messages;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function ensureTopic(pubsub: PubSub, name: string): Promise<Topic> {
  const topic = pubsub.topic(name);
  const [exists] = await topic.exists();
  if (!exists) await topic.create();
  return topic;
}
