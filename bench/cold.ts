/**
 * Cold start: from spawning a fresh `functions-framework --target=onImagePush` to the first
 * CreateJob the Batch stand-in receives (the event is posted as soon as the port accepts).
 * Against two baselines of the same run: the wall time of `node -e
 * "require('@google-cloud/batch')"`, and the floor of any function that launches a job here:
 * functions-framework serving a function that loads the Batch client and sends one CreateJob,
 * spawn → answered event.
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import * as path from 'node:path';
import type {Stack} from '../sandbox/stack';
import {
  freePort,
  postPubsubCloudEvent,
  repoRoot,
  waitForPort,
} from '../sandbox/functions';
import {median, printTable} from './stats';

const COLD_RUNS = 5;
const COLD_TARGET = 1.3;
const REPO_IMAGE = 'us-central1-docker.pkg.dev/acme/bench/app';

const elapsedMs = (since: bigint) =>
  Number(process.hrtime.bigint() - since) / 1e6;

/** functions-framework's CLI (the package exports only its index; main.js sits beside it). */
function frameworkBin(): string {
  return path.join(
    path.dirname(
      require.resolve('@google-cloud/functions-framework', {
        paths: [repoRoot()],
      }),
    ),
    'main.js',
  );
}

/**
 * A function source that, on its event, loads the Batch client and sends one CreateJob of a
 * minimal job to the stand-in: what any function that launches a job here must do.
 */
function floorSource(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pushrun-cold-floor-'));
  const resolve = (m: string) =>
    JSON.stringify(require.resolve(m, {paths: [repoRoot()]}));
  const file = path.join(dir, 'index.js');
  writeFileSync(
    file,
    `const ff = require(${resolve('@google-cloud/functions-framework')});
ff.cloudEvent('floor', async event => {
  const {BatchServiceClient} = require(${resolve('@google-cloud/batch')});
  const {grpc} = require(${resolve('google-gax')});
  const [host, port] = process.env.PUSHRUN_BATCH_ENDPOINT.split(':');
  const client = new BatchServiceClient({
    apiEndpoint: host,
    port: Number(port),
    sslCreds: grpc.credentials.createInsecure(),
  });
  await client.createJob({
    parent: 'projects/' + process.env.GOOGLE_CLOUD_PROJECT + '/locations/us-central1',
    jobId: 'floor-' + event.id.replace(/[^a-z0-9]/g, '').slice(0, 40),
    job: {taskGroups: [{taskSpec: {runnables: [{container: {imageUri: 'x'}}]}}]},
  });
});
`,
  );
  return file;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise(r => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/**
 * Spawns functions-framework serving `target` from `source`, posts one push as soon as the port
 * accepts, and resolves to [spawn → listening, spawn → done] in ms, where done is when `seen()`
 * first holds while the event is in flight, else when the event is answered.
 */
async function coldStart(
  target: string,
  source: string,
  env: NodeJS.ProcessEnv,
  digest: string,
  seen?: () => boolean,
): Promise<[number, number]> {
  const port = await freePort();
  const t0 = process.hrtime.bigint();
  const child = spawn(
    process.execPath,
    [
      frameworkBin(),
      `--target=${target}`,
      '--signature-type=cloudevent',
      `--port=${port}`,
      `--source=${source}`,
    ],
    {cwd: repoRoot(), env, stdio: 'ignore'},
  );
  try {
    await waitForPort(port, 30_000, child);
    const listening = elapsedMs(t0);
    let seenAt: number | undefined;
    // Poll while the event is in flight: the handler answers only after it has also written
    // the run record, which is not part of "time to the first CreateJob".
    const poll = setInterval(() => {
      if (seenAt === undefined && seen?.()) seenAt = elapsedMs(t0);
    }, 1);
    let status: number;
    try {
      status = await postPubsubCloudEvent(`http://127.0.0.1:${port}`, {
        data: JSON.stringify({
          action: 'INSERT',
          digest: `${REPO_IMAGE}@${digest}`,
        }),
      });
    } finally {
      clearInterval(poll);
    }
    if (status < 200 || status >= 300)
      throw new Error(`${target} answered ${status}`);
    if (!seen) return [listening, elapsedMs(t0)];
    seenAt ??= seen() ? elapsedMs(t0) : undefined;
    if (seenAt === undefined) throw new Error(`nothing seen for ${digest}`);
    return [listening, seenAt];
  } finally {
    await stop(child);
  }
}

/**
 * One cold start of the real `onImagePush` against the stack: [spawn → listening, spawn → the
 * stand-in receives the CreateJob of `mapping` for `digest`], in ms.
 */
export function coldLaunch(
  stack: Stack,
  digest: string,
  opts: {mapping?: string; env?: NodeJS.ProcessEnv} = {},
): Promise<[number, number]> {
  const jobId = `${opts.mapping ?? 'bench'}-${digest.slice(7, 19)}`;
  return coldStart(
    'onImagePush',
    repoRoot(),
    {...process.env, ...stack.env, ...opts.env},
    digest,
    () =>
      stack.standin.requests.some(
        q => q.method === 'CreateJob' && q.request.jobId === jobId,
      ),
  );
}

/** Prints the cold-start figures; `images(n, offset)` pushes n images with distinct digests. */
export async function benchCold(
  stack: Stack,
  images: (n: number, offset: number) => Promise<string[]>,
): Promise<void> {
  const digests = await images(COLD_RUNS, 0);
  const env = {...process.env, ...stack.env};
  const floorFile = floorSource();
  const baseline: number[] = [];
  const floor: number[] = [];
  const listening: number[] = [];
  const cold: number[] = [];
  // Interleaved, so all three see the same machine load.
  for (const digest of digests) {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [
      '-e',
      "require('@google-cloud/batch')",
    ]);
    if (r.status !== 0) throw new Error(`baseline failed: ${r.stderr}`);
    baseline.push(elapsedMs(t));
    floor.push((await coldStart('floor', floorFile, env, digest))[1]);
    const [l, c] = await coldLaunch(stack, digest);
    listening.push(l);
    cold.push(c);
  }
  const row = (what: string, ms: number[]) => [
    what,
    median(ms).toFixed(0),
    String(COLD_RUNS),
  ];
  printTable(
    ['cold start', 'median ms', 'runs'],
    [
      row('node -e "require(\'@google-cloud/batch\')" (baseline)', baseline),
      row(
        'functions-framework + load the Batch client + one CreateJob (floor)',
        floor,
      ),
      row('spawn functions-framework → port accepts', listening),
      row('spawn functions-framework → first CreateJob', cold),
    ],
  );
  console.log(
    `ratio: ${(median(cold) / median(baseline)).toFixed(2)}× the baseline (target ≤ ${COLD_TARGET}×), ` +
      `${(median(cold) / median(floor)).toFixed(2)}× the floor`,
  );
}
