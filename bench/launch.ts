/**
 * The launch path's speed, against baselines measured in the same run.
 * (a) Cold: see bench/cold.ts.
 * (b) Warm: `launchRuns` handler time over many pushes against the local registry, the
 *     stand-in and the Firestore emulator, against the floor a launch cannot go below: the
 *     same registry GETs, one CreateJob and one Firestore `create()` of a small document.
 */
import {makeBatchJobs} from '../shared/batch/client';
import {inspectImage} from '../shared/check';
import {parseConfig} from '../shared/config';
import type {PushrunConfig} from '../shared/config/types';
import type {ImagePush} from '../shared/events';
import {parseImageRef} from '../shared/image_ref';
import {launchRuns, type LaunchDeps} from '../shared/launch';
import {makeLogger} from '../shared/log';
import {planPush} from '../shared/plan';
import {DigestCache, makeRegistry, type Registry} from '../shared/registry';
import {makeFirestore} from '../shared/runs/firestore_store';
import {startStack, type Stack} from '../sandbox/stack';
import {benchCold} from './cold';
import {pushBuiltImage} from '../sandbox/images';
import {buildLayeredImage} from '../sandbox/image_builder';
import {floorGets} from './check';
import {percentile, printTable, timed} from './stats';
import {parseSettings} from '../shared/settings';

const PROJECT = 'pushrun-bench';
const REPO = 'acme/bench/app';
const IMAGE = `us-central1-docker.pkg.dev/${REPO}`;
const WARM_IMAGES = 10;
const WARM_MAPPINGS = 50; // WARM_IMAGES × WARM_MAPPINGS events, each a distinct job id
const WARM_TARGET = 1.2;

/** One mapping named `name` over the bench image: a single container job. */
function mappingYaml(name: string): string {
  return `
  - name: ${name}
    match: {image: ${IMAGE}}
    job:
      taskGroups:
        - taskSpec:
            runnables:
              - container: {commands: ["echo", "\${IMAGE_TAG}"]}
      logsPolicy: {destination: CLOUD_LOGGING}`;
}
const NOTIFICATIONS =
  'notifications: {topic: pushrun-notifications, batchEventsTopic: pushrun-batch-events}';
const CONFIG = `${NOTIFICATIONS}\nmappings:${mappingYaml('bench')}\n`;

/** Pushes `n` images with distinct digests; resolves to their digests. */
export async function distinctImages(
  n: number,
  offset: number,
  baseUrl: string,
): Promise<string[]> {
  const digests: string[] = [];
  for (let i = 0; i < n; i++) {
    const image = await buildLayeredImage([
      {'etc/base': 'base layer\n'},
      {'bin/app': `#!/bin/sh\necho build ${offset + i}\n`},
    ]);
    digests.push(await pushBuiltImage(baseUrl, REPO, image, `b${offset + i}`));
  }
  return digests;
}

/** A config holding the one bench mapping `name`. */
function configWithMapping(name: string): PushrunConfig {
  const parsed = parseConfig(
    `${NOTIFICATIONS}\nmappings:${mappingYaml(name)}\n`,
    'bench.yaml',
  );
  if (!parsed.config) throw new Error('bench config does not parse');
  return parsed.config;
}

async function benchWarm(stack: Stack): Promise<void> {
  const digests = await distinctImages(
    WARM_IMAGES,
    // Past the images the cold starts pushed.
    100,
    stack.registry.baseUrl,
  );
  const configs = Array.from({length: WARM_MAPPINGS}, (_, k) =>
    configWithMapping(`bench-${k}`),
  );
  const batch = makeBatchJobs(parseSettings(stack.env));
  const direct = makeBatchJobs(parseSettings(stack.env));
  // A registry with an empty cache per event: each event fetches as a new push would, even
  // though the digests repeat across mappings.
  const freshRegistry = (): Registry =>
    makeRegistry(parseSettings(stack.env), {cache: new DigestCache()});
  const settings = parseSettings(stack.env);
  const store = stack.store();
  const db = makeFirestore(settings);
  const depsFor = (config: PushrunConfig, registry: Registry): LaunchDeps => ({
    config,
    project: PROJECT,
    log: makeLogger(() => undefined),
    maxEventAgeMs: 3600_000,
    registry,
    batch,
    store,
    notifier: {notifyRun: async () => undefined},
    now: () => new Date(),
  });
  const push = (digest: string, eventId: string): ImagePush => ({
    eventId,
    digestRef: parseImageRef(`${IMAGE}@${digest}`),
    publishedAt: new Date(),
  });

  // Warm both paths once (clients, channels, connections) before measuring.
  await launchRuns(
    push(digests[0], 'warmup'),
    depsFor(configWithMapping('warmup'), freshRegistry()),
  );
  await floorGets(stack.registry.baseUrl, REPO, digests[0]);
  await db.collection('bench-floor').doc('warmup').set({at: new Date()});

  const handler: number[] = [];
  const floor: number[] = [];
  for (let k = 0; k < WARM_MAPPINGS; k++) {
    for (const digest of digests) {
      const deps = depsFor(configs[k], freshRegistry());
      const [outcomes, h] = await timed(() =>
        launchRuns(push(digest, `h${k}-${digest.slice(7, 19)}`), deps),
      );
      if (outcomes[0]?.kind !== 'launched') {
        throw new Error(`expected a launch, got ${JSON.stringify(outcomes)}`);
      }
      handler.push(h);

      // The same work made directly: the registry GETs, then the same CreateJob (its own id).
      const ref = parseImageRef(`${IMAGE}@${digest}`);
      const facts = await inspectImage(
        ref,
        {platform: 'linux/amd64'},
        {registry: freshRegistry()},
      );
      const [plan] = planPush({digestRef: ref}, configs[k], facts, PROJECT);
      if (plan.kind !== 'launch') throw new Error(plan.skip.reason);
      const request = {
        ...plan.request,
        jobId: `floor-${k}-${digest.slice(7, 19)}`,
        requestId: undefined,
      };
      const [, f] = await timed(async () => {
        await floorGets(stack.registry.baseUrl, REPO, digest);
        const outcome = await direct.createJob(request);
        if (!outcome.created) throw new Error(`${request.jobId} existed`);
        await db
          .collection('bench-floor')
          .doc(request.jobId)
          .create({jobId: request.jobId, at: new Date()});
      });
      floor.push(f);
    }
  }
  printTable(
    ['warm, per push', 'p50 ms', 'p99 ms', 'events'],
    [
      [
        'floor: registry GETs + CreateJob + Firestore create()',
        percentile(floor, 50).toFixed(2),
        percentile(floor, 99).toFixed(2),
        String(floor.length),
      ],
      [
        'launchRuns (Firestore emulator run store, no-op notifier)',
        percentile(handler, 50).toFixed(2),
        percentile(handler, 99).toFixed(2),
        String(handler.length),
      ],
    ],
  );
  console.log(
    `${WARM_IMAGES} images × ${WARM_MAPPINGS} mappings; ratio at p50: ` +
      `${(percentile(handler, 50) / percentile(floor, 50)).toFixed(2)}× (target ≤ ${WARM_TARGET}×)`,
  );
}

/** Prints the cold and warm figures. */
export async function benchLaunch(): Promise<void> {
  const stack = await startStack({
    project: PROJECT,
    configText: CONFIG,
    functions: [],
  });
  if ('missing' in stack) {
    console.log(`SKIPPED: launch benchmark: ${stack.missing}`);
    return;
  }
  try {
    await benchCold(stack, (n, offset) =>
      distinctImages(n, offset, stack.registry.baseUrl),
    );
    await benchWarm(stack);
  } finally {
    await stack.stop();
  }
}

if (require.main === module) {
  benchLaunch().then(
    () => process.exit(0),
    e => {
      console.error(e);
      process.exit(1);
    },
  );
}
