/**
 * The launch path's speed. (a) Cold: from spawning functions-framework to the first CreateJob
 * the Batch stand-in receives, against `node -e "require('@google-cloud/batch')"`. (b) Warm:
 * `launchRuns` over many pushes of distinct images against the local registry and stand-in,
 * against the same registry GETs and CreateJob made directly.
 */
import {spawnSync} from 'node:child_process';
import {makeBatchJobs} from '../shared/batch';
import {parseConfig} from '../shared/config';
import {parseImageRef} from '../shared/image_ref';
import {launchRuns, type LaunchDeps} from '../shared/launch';
import {makeLogger} from '../shared/log';
import {planPush} from '../shared/plan';
import {DigestCache, makeRegistry} from '../shared/registry';
import {MemoryRunStore} from '../shared/runs/memory_store';
import {startStack} from '../shared/sandbox/stack';
import {inspectImage} from '../shared/check';
import {serveFunction, postPubsubCloudEvent} from '../test/support/functions';
import {buildLayeredImage, pushBuiltImage} from '../test/support/images';
import {floorGets} from './check';
import {median, percentile, printTable, timed} from './stats';

const PROJECT = 'pushrun-bench';
const REPO = 'acme/bench/app';
const IMAGE = `us-central1-docker.pkg.dev/${REPO}`;
const CONFIG = `
notifications: {topic: pushrun-notifications, batchEventsTopic: pushrun-batch-events}
mappings:
  - name: bench
    match: {image: ${IMAGE}}
    job:
      taskGroups:
        - taskSpec:
            runnables:
              - container: {commands: ["echo", "\${IMAGE_TAG}"]}
      logsPolicy: {destination: CLOUD_LOGGING}
`;
const COLD_RUNS = 5;
const WARM_EVENTS = 500;

async function distinctImages(
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
    // (a) cold start
    const baseline: number[] = [];
    for (let i = 0; i < COLD_RUNS; i++) {
      const t = process.hrtime.bigint();
      spawnSync(process.execPath, ['-e', "require('@google-cloud/batch')"]);
      baseline.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const coldDigests = await distinctImages(
      COLD_RUNS,
      0,
      stack.registry.baseUrl,
    );
    const cold: number[] = [];
    for (const digest of coldDigests) {
      const jobId = `bench-${digest.slice(7, 19)}`;
      const t = process.hrtime.bigint();
      const fn = await serveFunction('onImagePush', stack.env);
      try {
        await postPubsubCloudEvent(fn.url, {
          data: JSON.stringify({
            action: 'INSERT',
            digest: `${IMAGE}@${digest}`,
          }),
        });
        const seen = stack.standin.requests.some(
          r => r.method === 'CreateJob' && r.request.jobId === jobId,
        );
        if (!seen) throw new Error(`no CreateJob for ${jobId}`);
        cold.push(Number(process.hrtime.bigint() - t) / 1e6);
      } finally {
        await fn.stop();
      }
    }
    printTable(
      ['cold start', 'median ms', 'runs'],
      [
        [
          'node -e "require(\'@google-cloud/batch\')" (baseline)',
          median(baseline).toFixed(0),
          String(COLD_RUNS),
        ],
        [
          'spawn functions-framework → first CreateJob',
          median(cold).toFixed(0),
          String(COLD_RUNS),
        ],
      ],
    );
    console.log(
      `ratio: ${(median(cold) / median(baseline)).toFixed(2)}× (target ≤ 1.3×). The cold path ` +
        'also starts functions-framework, reads and validates the mappings, checks the image ' +
        'in the registry and constructs the Batch client, which the baseline does not.',
    );

    // (b) warm handler time, distinct images so no digest is cached
    const warmDigests = await distinctImages(
      WARM_EVENTS,
      COLD_RUNS,
      stack.registry.baseUrl,
    );
    const config = parseConfig(CONFIG, 'bench.yaml').config!;
    const silent = makeLogger(() => undefined);
    const deps: LaunchDeps = {
      config,
      project: PROJECT,
      log: silent,
      maxEventAgeMs: 3600_000,
      registry: makeRegistry(stack.env, {cache: new DigestCache()}),
      batch: makeBatchJobs(stack.env),
      store: new MemoryRunStore(),
      notifier: {notifyRun: async () => undefined},
      now: () => new Date(),
    };
    const direct = makeBatchJobs(stack.env);
    // Warm both paths once (clients, channels) before measuring.
    await launchRuns(push(warmDigests[0], 'warm'), deps);
    const handler: number[] = [];
    const floor: number[] = [];
    for (let i = 1; i < warmDigests.length; i++) {
      const digest = warmDigests[i];
      const [, h] = await timed(() => launchRuns(push(digest, `h${i}`), deps));
      handler.push(h);
      // The same work made directly: the registry GETs, then the same CreateJob (a new id).
      const ref = parseImageRef(`${IMAGE}@${digest}`);
      const facts = await inspectImage(
        ref,
        {platform: 'linux/amd64'},
        {registry: makeRegistry(stack.env, {cache: new DigestCache()})},
      );
      const [request] = planPush({digestRef: ref}, config, facts, PROJECT).map(
        p => p.request!,
      );
      const [, f] = await timed(async () => {
        await floorGets(stack.registry.baseUrl, REPO, digest);
        await direct.createJob({
          ...request,
          jobId: `floor-${digest.slice(7, 19)}`,
          requestId: undefined,
        });
      });
      floor.push(f);
    }
    printTable(
      ['warm, per push', 'p50 ms', 'p99 ms', 'events'],
      [
        [
          'direct registry GETs + CreateJob (baseline)',
          percentile(floor, 50).toFixed(2),
          percentile(floor, 99).toFixed(2),
          String(floor.length),
        ],
        [
          'launchRuns (in-memory run store)',
          percentile(handler, 50).toFixed(2),
          percentile(handler, 99).toFixed(2),
          String(handler.length),
        ],
      ],
    );
    console.log(
      `ratio at p50: ${(percentile(handler, 50) / percentile(floor, 50)).toFixed(2)}× (target ≤ 1.2×)`,
    );
  } finally {
    await stack.stop();
  }
}

function push(digest: string, eventId: string) {
  return {
    eventId,
    digestRef: parseImageRef(`${IMAGE}@${digest}`),
    publishedAt: new Date(),
  };
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
