/**
 * The live config's costs (DESIGN.md "Live config"):
 * (a) cold start to the first CreateJob with no version stored (the bundled file, after one
 *     empty read) against the same with a live version stored (one read that brings it);
 * (b) apply → the first push that uses the new version, with `PUSHRUN_CONFIG_TTL=1s`: the
 *     time from `pushrun config apply` starting to the stand-in receiving a CreateJob with the
 *     new command, pushes arriving every 100 ms.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {main} from '../shared/cli/main';
import {postPubsubCloudEvent} from '../sandbox/functions';
import {createdCommands} from '../sandbox/live_edit';
import {startStack, type Stack} from '../sandbox/stack';
import {coldLaunch} from './cold';
import {distinctImages} from './launch';
import {median, printTable} from './stats';

const PROJECT = 'pushrun-bench-live';
const IMAGE = 'us-central1-docker.pkg.dev/acme/bench/app';
const COLD_RUNS = 5;
const APPLIES = 5;
const TTL_MS = 1000;
const PUSH_EVERY_MS = 100;

const config = (command: string) => `
notifications: {topic: pushrun-notifications, batchEventsTopic: pushrun-batch-events}
mappings:
  - name: bench
    match: {image: ${IMAGE}}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["${command}"]}}]}}]}
`;

async function apply(stack: Stack, dir: string, command: string) {
  const file = path.join(dir, `${command}.yaml`);
  fs.writeFileSync(file, config(command));
  const code = await main(
    ['node', 'pushrun', 'config', 'apply', file, '--yes'],
    {
      GOOGLE_CLOUD_PROJECT: PROJECT,
      FIRESTORE_EMULATOR_HOST: stack.firestoreHost,
    },
    () => undefined,
    t => process.stderr.write(t),
  );
  if (code !== 0) throw new Error(`apply ${command}: exit ${code}`);
}

async function benchCold(stack: Stack, dir: string): Promise<void> {
  const digests = await distinctImages(
    2 * COLD_RUNS,
    5000,
    stack.registry.baseUrl,
  );
  // Interleaved, so both see the same machine load: the bundled runs use a project with no
  // version stored.
  await apply(stack, dir, 'live');
  const empty = {GOOGLE_CLOUD_PROJECT: `${PROJECT}-empty`};
  const bundled: number[] = [];
  const live: number[] = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    bundled.push((await coldLaunch(stack, digests[2 * i], {env: empty}))[1]);
    live.push((await coldLaunch(stack, digests[2 * i + 1]))[1]);
  }
  printTable(
    ['spawn functions-framework → first CreateJob', 'median ms', 'runs'],
    [
      [
        'no version stored: the bundled file',
        median(bundled).toFixed(0),
        String(COLD_RUNS),
      ],
      ['a live version stored', median(live).toFixed(0), String(COLD_RUNS)],
    ],
  );
  console.log(
    `live against bundled: ${(median(live) - median(bundled)).toFixed(0)} ms`,
  );
}

async function benchApplyToPush(stack: Stack, dir: string): Promise<void> {
  const url = stack.functions.onImagePush!.url;
  const pool = await distinctImages(
    APPLIES * Math.ceil((2 * TTL_MS) / PUSH_EVERY_MS) + 10,
    6000,
    stack.registry.baseUrl,
  );
  const post = (digest: string) =>
    postPubsubCloudEvent(url, {
      data: JSON.stringify({action: 'INSERT', digest: `${IMAGE}@${digest}`}),
    });
  await post(pool.pop()!); // warm: the instance holds a config
  const took: number[] = [];
  for (let i = 1; i <= APPLIES; i++) {
    const command = `edit${i}`;
    const t0 = Date.now();
    await apply(stack, dir, command);
    for (;;) {
      const digest = pool.pop();
      if (!digest) throw new Error('ran out of images');
      await post(digest);
      if (
        createdCommands(stack, `bench-${digest.slice(7, 19)}`)?.[0] === command
      )
        break;
      await new Promise(r => setTimeout(r, PUSH_EVERY_MS));
    }
    took.push(Date.now() - t0);
  }
  printTable(
    ['apply → first push on the new version', 'median ms', 'max ms', 'applies'],
    [
      [
        `PUSHRUN_CONFIG_TTL=${TTL_MS / 1000}s, a push every ${PUSH_EVERY_MS} ms`,
        median(took).toFixed(0),
        Math.max(...took).toFixed(0),
        String(APPLIES),
      ],
    ],
  );
}

/** Prints the live config figures. */
export async function benchLiveConfig(): Promise<void> {
  const stack = await startStack({
    project: PROJECT,
    configText: config('bundled'),
    functions: ['onImagePush'],
    env: {PUSHRUN_CONFIG_TTL: `${TTL_MS / 1000}s`},
  });
  if ('missing' in stack) {
    console.log(`SKIPPED: live config benchmark: ${stack.missing}`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushrun-bench-live-'));
  try {
    await benchCold(stack, dir);
    await benchApplyToPush(stack, dir);
  } finally {
    await stack.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  }
}
