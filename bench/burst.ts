/**
 * A burst against one served `onImagePush` (real functions-framework, Firestore emulator, Batch
 * stand-in): 200 pushes, each delivered 5 times as Artifact Registry and Pub/Sub would (one
 * message 3×, a second tag, the untagged digest), shuffled and posted 50 at a time. Prints
 * whether it ended with exactly one job per push, the delivery latencies, and how much the
 * serving process grew.
 */
import * as fs from 'node:fs';
import {startStack, type Stack} from '../sandbox/stack';
import {postPubsubCloudEvent} from '../sandbox/functions';
import {pushBuiltImage} from '../sandbox/images';
import {buildLayeredImage} from '../sandbox/image_builder';
import {percentile, printTable, timed} from './stats';
import {makeFirestore} from '../shared/runs/firestore_store';
import {parseSettings} from '../shared/settings';

const PROJECT = 'pushrun-burst';
const REPO = 'acme/bench/burst';
const IMAGE = `us-central1-docker.pkg.dev/${REPO}`;
const PUSHES = 200;
const CONCURRENCY = 50;
const RATIO_TARGET = 3;
const RSS_TARGET_MB = 64;

const CONFIG = `notifications: {topic: pushrun-notifications, batchEventsTopic: pushrun-batch-events}
mappings:
  - name: burst
    match: {image: ${IMAGE}}
    job:
      taskGroups: [{taskSpec: {runnables: [{container: {commands: ["echo", "\${IMAGE_TAG}"]}}]}}]
`;

/** The resident set size of a process, in MB (Linux /proc). */
function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

interface Delivery {
  readonly kind: 'tag' | 'other tag' | 'untagged';
  readonly messageId: string;
  readonly payload: Record<string, string>;
}

/** Five deliveries per push: one message three times, another tag, and the bare digest. */
function deliveriesOf(digest: string, n: number): Delivery[] {
  const pinned = `${IMAGE}@${digest}`;
  const first: Delivery = {
    kind: 'tag',
    messageId: `m${n}-v`,
    payload: {action: 'INSERT', digest: pinned, tag: `${IMAGE}:v${n}`},
  };
  return [
    first,
    first,
    first,
    {
      kind: 'other tag',
      messageId: `m${n}-latest`,
      payload: {action: 'INSERT', digest: pinned, tag: `${IMAGE}:latest`},
    },
    {
      kind: 'untagged',
      messageId: `m${n}-bare`,
      payload: {action: 'INSERT', digest: pinned},
    },
  ];
}

/** A deterministic shuffle (so runs compare), Fisher–Yates over a small LCG. */
function shuffle<T>(xs: T[]): T[] {
  let seed = 42;
  for (let i = xs.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

async function burst(stack: Stack): Promise<void> {
  const served = stack.functions.onImagePush!;
  const digests: string[] = [];
  for (let i = 0; i < PUSHES; i++) {
    const image = await buildLayeredImage([
      {'etc/base': 'base\n'},
      {'bin/app': `#!/bin/sh\necho burst ${i}\n`},
    ]);
    digests.push(await pushBuiltImage(stack.registry.baseUrl, REPO, image));
  }
  // One delivery first: the instance is warm, as it would be mid-burst.
  await postPubsubCloudEvent(served.url, {
    data: JSON.stringify({action: 'INSERT', digest: `${IMAGE}@${digests[0]}`}),
  });
  const before = rssMb(served.pid);
  const queue = shuffle(digests.flatMap((d, n) => deliveriesOf(d, n)));
  const latencies: number[] = [];
  const byKind = new Map<string, number[]>();
  const statuses: number[] = [];
  // The first CONCURRENCY deliveries arrive at once on an instance that has served one event.
  const firstWave: number[] = [];
  const later: number[] = [];
  let next = 0;
  let peak = before;
  const worker = async () => {
    while (next < queue.length) {
      const order = next++;
      const d = queue[order];
      const [status, ms] = await timed(() =>
        postPubsubCloudEvent(served.url, {
          data: JSON.stringify(d.payload),
          messageId: d.messageId,
        }),
      );
      statuses.push(status);
      latencies.push(ms);
      (order < CONCURRENCY ? firstWave : later).push(ms);
      byKind.set(d.kind, [...(byKind.get(d.kind) ?? []), ms]);
      peak = Math.max(peak, rssMb(served.pid));
    }
  };
  const [, wall] = await timed(() =>
    Promise.all(Array.from({length: CONCURRENCY}, worker)),
  );
  const jobIds = new Set(digests.map(d => `burst-${d.slice(7, 19)}`));
  const jobs = [...stack.standin.jobs.keys()].filter(k =>
    jobIds.has(k.split('/').pop()!),
  );
  const failed = statuses.filter(s => s >= 300).length;
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  printTable(
    ['burst', 'value'],
    [
      [
        `deliveries (${PUSHES} pushes × 5, ${CONCURRENCY} at a time)`,
        `${queue.length} in ${(wall / 1000).toFixed(1)} s, ${failed} not acknowledged`,
      ],
      ['jobs created', `${jobs.length} of ${PUSHES} (exactly one per push)`],
      ['delivery p50 / p99 ms', `${p50.toFixed(1)} / ${p99.toFixed(1)}`],
      ...[...byKind].map(([kind, ms]) => [
        `  ${kind} message p50 / p99 ms`,
        `${percentile(ms, 50).toFixed(1)} / ${percentile(ms, 99).toFixed(1)}`,
      ]),
      [
        `  the first ${CONCURRENCY}, posted at once: p50 / max ms`,
        `${percentile(firstWave, 50).toFixed(1)} / ${Math.max(...firstWave).toFixed(1)}`,
      ],
      [
        '  the rest: p50 / p99 ms',
        `${percentile(later, 50).toFixed(1)} / ${percentile(later, 99).toFixed(1)}`,
      ],
      ['p99 / p50', `${(p99 / p50).toFixed(2)} (target ≤ ${RATIO_TARGET})`],
      ...(await emulatorFloor(stack)),
      [
        'serving process RSS, before → peak',
        `${before.toFixed(1)} → ${peak.toFixed(1)} MB: +${(peak - before).toFixed(1)} MB (target ≤ +${RSS_TARGET_MB} MB)`,
      ],
    ],
  );
}

/**
 * The Firestore emulator's own tail at this concurrency: as many small create()s as there are
 * deliveries, from this process, CONCURRENCY at a time. Rows for the table.
 */
async function emulatorFloor(stack: Stack): Promise<string[][]> {
  const db = makeFirestore(parseSettings(stack.env));
  const col = db.collection('pushrun-bench-floor');
  const ms: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < PUSHES * 5) {
      const i = next++;
      const [, t] = await timed(() =>
        col.doc(`floor-${i}`).create({n: i, at: new Date()}),
      );
      ms.push(t);
    }
  };
  await Promise.all(Array.from({length: CONCURRENCY}, worker));
  await db.terminate();
  const p50 = percentile(ms, 50);
  const p99 = percentile(ms, 99);
  return [
    [
      `floor: ${ms.length} Firestore create() alone, ${CONCURRENCY} at a time, p50 / p99 ms`,
      `${p50.toFixed(1)} / ${p99.toFixed(1)} (p99 / p50 ${(p99 / p50).toFixed(2)})`,
    ],
  ];
}

/** Prints the burst figures. */
export async function benchBurst(): Promise<void> {
  const stack = await startStack({
    project: PROJECT,
    configText: CONFIG,
    functions: ['onImagePush'],
  });
  if ('missing' in stack) {
    console.log(`SKIPPED: burst benchmark: ${stack.missing}`);
    return;
  }
  try {
    await burst(stack);
  } finally {
    await stack.stop();
  }
}
