/**
 * Recorder handler time: p50/p99 of `recordJobState` over ~300 hints against the Firestore and
 * Pub/Sub emulators, next to a baseline of one Firestore transaction plus one publish made
 * directly. Batch is an in-memory fake, so the figures are the store and topic cost.
 */
import {parseSettings} from '../shared/settings';
import {percentile, printTable, timed} from './stats';
import {PubSub} from '@google-cloud/pubsub';
import {BatchJob, BatchJobs} from '../shared/batch/jobs';
import {JobState} from '../shared/batch/job_state';
import {CompletionDeps, recordJobState} from '../shared/runs/sync';
import {makeLogger} from '../shared/log';
import {makeNotifier} from '../shared/notify';
import {makeFirestore, makeRunStore} from '../shared/runs/firestore_store';
import {RunRecord} from '../shared/runs/record';
import {RUNS_COLLECTION} from '../shared/runs/store';
import {
  EMULATOR_PROJECT,
  startFirestoreEmulator,
  startPubsubEmulator,
} from '../sandbox/emulators';

const JOBS = 100;
const TOPIC = 'pushrun-bench-notifications';
const name = (id: string) =>
  `projects/${EMULATOR_PROJECT}/locations/us-central1/jobs/${id}`;

/** Hints in the order Batch tends to send them, and one duplicate of the last. */
const STEPS: {kind: string; state: JobState}[] = [
  {kind: 'RUNNING (update)', state: 'RUNNING'},
  {kind: 'SUCCEEDED (update + notify)', state: 'SUCCEEDED'},
  {kind: 'SUCCEEDED again (duplicate)', state: 'SUCCEEDED'},
];

function job(id: string, state: JobState): BatchJob {
  return {
    name: name(id),
    uid: `${id}-uid`,
    state,
    labels: {
      'pushrun-mapping': 'bench',
      'pushrun-digest': 'ab'.repeat(16),
      'pushrun-streaming': 'true',
    },
    createTime: new Date(),
    statusEvents: [{newState: state, eventTime: new Date()}],
    taskCounts: {[state]: 1},
  };
}

function record(id: string): RunRecord {
  return {
    id,
    mapping: 'bench',
    image: 'us-central1-docker.pkg.dev/p/r/bench',
    digest: `sha256:${'ab'.repeat(32)}`,
    tags: ['v1'],
    region: 'us-central1',
    jobName: name(id),
    streaming: {requested: 'auto', enabled: true, reasons: []},
    state: 'QUEUED',
    createdAt: new Date(),
    history: [{state: 'QUEUED', at: new Date()}],
  };
}

/** Prints p50/p99 of the recorder per kind of hint, and of the direct baseline. */
export async function benchRecorder(): Promise<void> {
  const [fs, ps] = await Promise.all([
    startFirestoreEmulator(),
    startPubsubEmulator(),
  ]);
  if (!fs || !ps) {
    console.log(
      'bench recorder: the Firestore or Pub/Sub emulator is not available',
    );
    await Promise.all([fs?.stop(), ps?.stop()]);
    return;
  }
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const env = {
    GOOGLE_CLOUD_PROJECT: EMULATOR_PROJECT,
    FIRESTORE_EMULATOR_HOST: fs.host,
    PUBSUB_EMULATOR_HOST: ps.host,
  };
  const pubsub = new PubSub({
    projectId: EMULATOR_PROJECT,
    apiEndpoint: ps.host,
  });
  try {
    await pubsub.createTopic(TOPIC);
    const jobs = new Map<string, BatchJob>();
    const batch: BatchJobs = {
      createJob: async () => {
        throw new Error('not used');
      },
      getJob: async n => jobs.get(n),
      cancelJob: async () => {
        throw new Error('not used');
      },
    };
    const settings = parseSettings(env);
    const store = makeRunStore(settings);
    const deps: CompletionDeps = {
      batch,
      store,
      notifier: makeNotifier(TOPIC, settings),
      log: makeLogger(() => {}),
    };
    const db = makeFirestore(settings);
    const topic = pubsub.topic(TOPIC, {batching: {maxMessages: 1}});
    const baselineOnce = async (id: string) => {
      const ref = db.collection(RUNS_COLLECTION).doc(`baseline-${id}`);
      await db.runTransaction(async tx => {
        const snap = await tx.get(ref);
        tx.set(ref, {...record(id), n: (snap.data()?.n ?? 0) + 1});
      });
      await topic.publishMessage({
        data: Buffer.from('{}'),
        attributes: {type: 'run.succeeded'},
      });
    };

    // Warm-up: connections, JIT, emulator caches on both sides.
    for (let i = 0; i < 10; i++) {
      const id = `warm-${i}`;
      await store.create(record(id));
      jobs.set(name(id), job(id, 'SUCCEEDED'));
      await recordJobState({jobName: name(id), jobId: id, eventId: id}, deps);
      await baselineOnce(id);
    }

    const byKind = new Map<string, number[]>(STEPS.map(s => [s.kind, []]));
    const all: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < JOBS; i++) {
      const id = `bench-${i}`;
      await store.create(record(id));
      for (const step of STEPS) {
        jobs.set(name(id), job(id, step.state));
        const [, took] = await timed(() =>
          recordJobState(
            {
              jobName: name(id),
              jobId: id,
              newState: step.state,
              eventId: `${id}-${step.kind}`,
            },
            deps,
          ),
        );
        byKind.get(step.kind)!.push(took);
        all.push(took);
        const [, direct] = await timed(() =>
          baselineOnce(`${id}-${baseline.length}`),
        );
        baseline.push(direct);
      }
    }
    const rows: string[][] = [
      ...[...byKind].map(([kind, xs]) => [
        `recordJobState: ${kind}`,
        String(xs.length),
        ms(percentile(xs, 50)),
        ms(percentile(xs, 99)),
      ]),
      [
        'recordJobState: all hints',
        String(all.length),
        ms(percentile(all, 50)),
        ms(percentile(all, 99)),
      ],
      [
        'baseline: 1 transaction + 1 publish',
        String(baseline.length),
        ms(percentile(baseline, 50)),
        ms(percentile(baseline, 99)),
      ],
    ];
    printTable(['handler', 'n', 'p50 ms', 'p99 ms'], rows);
    console.log(
      '(sequential, against the emulators on loopback; all hints p50 = ' +
        `${(percentile(all, 50) / percentile(baseline, 50)).toFixed(2)}× the baseline p50)`,
    );
  } finally {
    await pubsub.close();
    await Promise.all([fs.stop(), ps.stop()]);
  }
}

function ms(x: number): string {
  return x.toFixed(1);
}

if (require.main === module) {
  benchRecorder().then(
    () => process.exit(0),
    e => {
      console.error(e);
      process.exit(1);
    },
  );
}
