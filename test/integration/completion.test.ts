/**
 * The completion path against the real Firestore and Pub/Sub emulators: the Firestore store's
 * transactions, state messages out of order and duplicated, exactly one notification per
 * finished run on a real subscription and on a loopback webhook, and reconcile.
 * Batch is a recorded fake whose getJob answers the job's state at the time of the call.
 */
import * as assert from 'node:assert';
import {
  FakeBatchJobs,
  recordingLogger,
  runRecord as baseRecord,
} from '../support/fixtures';
import {parseSettings} from '../../shared/settings';
import * as http from 'node:http';
import {AddressInfo} from 'node:net';
import {Message, PubSub, Subscription} from '@google-cloud/pubsub';
import {BatchJobs} from '../../shared/batch/jobs';
import {JobState} from '../../shared/batch/job_state';
import {CompletionDeps, recordJobState} from '../../shared/runs/sync';
import {JobStateHint} from '../../shared/events';
import {finishAndNotify} from '../../shared/runs/announce';
import {reconcileRuns} from '../../shared/reconcile';
import {TransientError} from '../../shared/errors';
import {formatRunMessage, makeNotifier} from '../../shared/notify';
import {makeRunStore} from '../../shared/runs/firestore_store';
import {RunRecord} from '../../shared/runs/record';
import {RunStore} from '../../shared/runs/store';
import {
  EMULATOR_PROJECT,
  Emulator,
  resetFirestore,
  startFirestoreEmulator,
  startPubsubEmulator,
} from '../../sandbox/emulators';

const PROJECT = EMULATOR_PROJECT;
const TOPIC = 'pushrun-notifications';
const NAME = (id: string) =>
  `projects/${PROJECT}/locations/us-central1/jobs/${id}`;
const LABELS = {
  'pushrun-mapping': 'trainer',
  'pushrun-digest': 'ab'.repeat(16),
  'pushrun-streaming': 'true',
};

const runRecord = (id: string, extra: Partial<RunRecord> = {}) =>
  baseRecord(id, {
    jobName: NAME(id),
    digest: `sha256:${'ab'.repeat(32)}`,
    createdAt: new Date(Date.now() - 60_000),
    pushedAt: new Date(Date.now() - 61_000),
    launchedAt: new Date(Date.now() - 60_000),
    history: [{state: 'QUEUED', at: new Date(Date.now() - 60_000)}],
    ...extra,
  });

/** Delivers like Pub/Sub: a thrown error means "again", after a short pause. */
async function deliver(
  hint: JobStateHint,
  deps: CompletionDeps,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      await recordJobState(hint, deps);
      return attempt;
    } catch (e) {
      if (!(e instanceof TransientError) || attempt >= 50) throw e;
      await new Promise(r => setTimeout(r, 20 + Math.random() * 40));
    }
  }
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

async function waitFor(cond: () => boolean, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 50));
  }
}

describe('completion path (Firestore and Pub/Sub emulators)', function () {
  this.timeout(60_000);
  let firestore: Emulator | undefined;
  let pubsubEmu: Emulator | undefined;
  let env: NodeJS.ProcessEnv;
  let store: RunStore;
  let pubsub: PubSub;
  let subscription: Subscription;
  let messages: Message[] = [];
  let webhook: http.Server;
  let posts: {text: string; blocks: Record<string, unknown>[]}[] = [];

  before(async function () {
    this.timeout(120_000);
    // Nothing here runs on Google Cloud: keep the auth library from probing for a metadata server.
    process.env.METADATA_SERVER_DETECTION ??= 'none';
    [firestore, pubsubEmu] = await Promise.all([
      startFirestoreEmulator(),
      startPubsubEmulator(),
    ]);
    if (!firestore || !pubsubEmu) return this.skip();
    webhook = http.createServer((req, res) => {
      let body = '';
      req.on('data', c => (body += c));
      req.on('end', () => {
        posts.push(JSON.parse(body));
        res.end();
      });
    });
    await new Promise<void>(r => webhook.listen(0, '127.0.0.1', r));
    env = {
      GOOGLE_CLOUD_PROJECT: PROJECT,
      FIRESTORE_EMULATOR_HOST: firestore.host,
      PUBSUB_EMULATOR_HOST: pubsubEmu.host,
      PUSHRUN_WEBHOOK_URL: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook?token=secret`,
    };
    store = makeRunStore(parseSettings(env));
    pubsub = new PubSub({projectId: PROJECT, apiEndpoint: pubsubEmu.host});
    const [topic] = await pubsub.createTopic(TOPIC);
    [subscription] = await topic.createSubscription(
      'pushrun-notifications-test',
    );
    // Pub/Sub delivers at least once: a message the emulator delivers again (same id) is one
    // publish, so it is kept once; a second publish of a run gets an id of its own and counts.
    subscription.on('message', (m: Message) => {
      if (!messages.some(seen => seen.id === m.id)) messages.push(m);
      m.ack();
    });
  });

  after(async () => {
    await subscription?.close();
    await pubsub?.close();
    webhook?.close();
    await Promise.all([firestore?.stop(), pubsubEmu?.stop()]);
  });

  beforeEach(async () => {
    await resetFirestore(firestore!.host, PROJECT);
    messages = [];
    posts = [];
  });

  function deps(
    batch: BatchJobs,
  ): CompletionDeps & {log: ReturnType<typeof recordingLogger>} {
    const log = recordingLogger();
    return {
      batch,
      store,
      notifier: makeNotifier(TOPIC, parseSettings(env), {log, store}),
      log,
    };
  }

  describe('Firestore run store', () => {
    it('creates once, reads Dates back as Dates, drops undefined fields', async () => {
      const r = runRecord('a', {startedAt: undefined});
      assert.strictEqual(await store.create(r), true);
      assert.strictEqual(await store.create({...r, state: 'FAILED'}), false);
      const got = (await store.get('a'))!;
      assert.strictEqual(got.state, 'QUEUED');
      assert.ok(
        got.createdAt instanceof Date && got.history[0].at instanceof Date,
      );
      assert.strictEqual(got.createdAt.getTime(), r.createdAt.getTime());
      assert.ok(!('startedAt' in got) && !('open' in got));
      assert.strictEqual(await store.get('nope'), undefined);
    });

    it('serialises concurrent updates of one document', async () => {
      await store.create(runRecord('c', {tags: []}));
      await Promise.all(
        Array.from({length: 6}, (_, i) =>
          store.update('c', cur => ({
            record: {...cur!, tags: [...cur!.tags, `t${i}`]},
            changed: true,
          })),
        ),
      );
      assert.strictEqual((await store.get('c'))!.tags.length, 6);
    });

    it('patches under a precondition: concurrent writers all land, and fields it drops go', async () => {
      await store.create(
        runRecord('p', {tags: [], notifyClaim: {token: 't', at: new Date()}}),
      );
      await Promise.all(
        Array.from({length: 6}, (_, i) =>
          store.patch('p', cur => ({
            record: {
              ...cur!,
              tags: [...cur!.tags, `t${i}`],
              notifyClaim: undefined,
            },
            changed: true,
          })),
        ),
      );
      const got = (await store.get('p'))!;
      assert.deepStrictEqual([...got.tags].sort(), [
        't0',
        't1',
        't2',
        't3',
        't4',
        't5',
      ]);
      assert.ok(
        !('notifyClaim' in got),
        'a field the record no longer has is deleted',
      );
      const fresh = await store.patch('p-new', () => ({
        record: runRecord('p-new'),
        changed: true,
      }));
      assert.ok(fresh.changed);
      assert.strictEqual((await store.get('p-new'))?.id, 'p-new');
    });

    it('adds tags in one write each, concurrently, and writes nothing without a record', async () => {
      await store.create(runRecord('trainer-tags', {tags: ['v1']}));
      const added = await Promise.all(
        ['v2', 'v3', 'v1', 'latest'].map(t => store.addTag('trainer-tags', t)),
      );
      assert.deepStrictEqual(added, [true, true, true, true]);
      const r = (await store.get('trainer-tags'))!;
      assert.deepStrictEqual([...r.tags].sort(), ['latest', 'v1', 'v2', 'v3']);
      assert.strictEqual(r.state, 'QUEUED');
      assert.strictEqual(await store.addTag('trainer-none', 'v1'), false);
      assert.strictEqual(await store.get('trainer-none'), undefined);
    });

    it('lists with filters newest first, and pages open runs', async () => {
      const base = Date.now() - 600_000;
      for (let i = 0; i < 5; i++) {
        await store.create(
          runRecord(`r${i}`, {
            createdAt: new Date(base + i * 1000),
            state: i === 4 ? 'SUCCEEDED' : 'RUNNING',
            notifiedAt: i === 4 ? new Date() : undefined,
            mapping: i % 2 ? 'odd' : 'even',
          }),
        );
      }
      assert.deepStrictEqual(
        (await store.list({mapping: 'even'})).map(r => r.id),
        ['r4', 'r2', 'r0'],
      );
      assert.deepStrictEqual(
        (await store.list({state: 'SUCCEEDED'})).map(r => r.id),
        ['r4'],
      );
      assert.deepStrictEqual(
        (await store.list({limit: 2})).map(r => r.id),
        ['r4', 'r3'],
      );
      const page1 = await store.listOpen({olderThan: new Date(), limit: 3});
      const page2 = await store.listOpen({
        olderThan: new Date(),
        limit: 3,
        after: page1[2],
      });
      assert.deepStrictEqual(
        [...page1, ...page2].map(r => r.id),
        ['r0', 'r1', 'r2', 'r3'],
      );
    });
  });

  it('out-of-order, duplicated, concurrent state messages: Batch final state, one notification each', async () => {
    const batch = new FakeBatchJobs({project: PROJECT, labels: LABELS});
    const d = deps(batch);
    const ladder: JobState[] = ['QUEUED', 'SCHEDULED', 'RUNNING'];
    const jobs = Array.from({length: 30}, (_, i) => ({
      id: `trainer-perm${String(i).padStart(2, '0')}`,
      final: (i % 5 === 0 ? 'FAILED' : 'SUCCEEDED') as JobState,
    }));
    const deliveries: {id: string; step: number; state: JobState}[] = [];
    for (const job of jobs) {
      // Some records exist already (written at launch), some are created from the job's labels.
      if (Math.random() < 0.7) await store.create(runRecord(job.id));
      batch.put(job.id, 'QUEUED');
      const states = [...ladder, job.final];
      // Every state at least once, some twice: a random permutation with duplicates.
      const hints = states.flatMap((s, step) =>
        Math.random() < 0.5
          ? [
              {step, s},
              {step, s},
            ]
          : [{step, s}],
      );
      deliveries.push(
        ...shuffle(hints).map(h => ({id: job.id, step: h.step, state: h.s})),
      );
    }
    const order = shuffle(deliveries);
    let eventNo = 0;
    for (let i = 0; i < order.length; i += 45) {
      await Promise.all(
        order.slice(i, i + 45).map(async h => {
          // A message about state X is sent once the job reached X; Batch may be further on.
          const job = batch.jobs.get(NAME(h.id))!;
          const now = [...ladder, jobs.find(j => j.id === h.id)!.final];
          const reached = Math.max(now.indexOf(job.state), h.step);
          batch.put(h.id, now[reached]);
          await deliver(
            {
              jobName: NAME(h.id),
              jobId: h.id,
              newState: h.state,
              eventId: `e${eventNo++}`,
            },
            d,
          );
        }),
      );
    }
    // Each job's last hint may not have been its terminal one: finish them all as Batch would.
    for (const job of jobs) batch.put(job.id, job.final);
    await Promise.all(
      jobs.map(j =>
        deliver({jobName: NAME(j.id), jobId: j.id, eventId: `last-${j.id}`}, d),
      ),
    );

    for (const job of jobs) {
      const r = (await store.get(job.id))!;
      assert.strictEqual(r.state, job.final, job.id);
      assert.ok(r.notifiedAt, `${job.id} notified`);
      assert.strictEqual(r.notifyClaim, undefined);
      const ranks = r.history.map(h =>
        [...ladder, job.final].indexOf(h.state as JobState),
      );
      assert.deepStrictEqual(
        ranks,
        [...ranks].sort(),
        `${job.id} history moves forward`,
      );
    }
    await waitFor(
      () => messages.length >= jobs.length,
      20_000,
      'notifications',
    );
    await new Promise(r => setTimeout(r, 1000)); // time for any duplicate to show up
    const byRun = new Map<string, number>();
    for (const m of messages)
      byRun.set(m.attributes.runId, (byRun.get(m.attributes.runId) ?? 0) + 1);
    assert.deepStrictEqual(
      [...byRun.keys()].sort(),
      jobs.map(j => j.id).sort(),
    );
    assert.ok(
      [...byRun.values()].every(n => n === 1),
      JSON.stringify([...byRun]),
    );
    const failed = messages.find(m => m.attributes.runId === jobs[0].id)!;
    assert.deepStrictEqual(failed.attributes, {
      type: 'run.failed',
      mapping: 'trainer',
      state: 'FAILED',
      runId: jobs[0].id,
    });
    const body = JSON.parse(failed.data.toString());
    assert.strictEqual(body.id, jobs[0].id);
    assert.match(
      body.consoleUrl,
      /batch\/jobsDetail\/regions\/us-central1\/jobs\/trainer-perm00\/details\?project=/,
    );
    // The webhook heard about each run once, as a card with the words a person reads.
    assert.strictEqual(posts.length, jobs.length);
    const final0 = (await store.get(jobs[0].id))!;
    const post0 = posts.filter(p => p.text === formatRunMessage(final0));
    assert.strictEqual(post0.length, 1);
    assert.deepStrictEqual(post0[0].blocks[0], {
      type: 'header',
      text: {type: 'plain_text', text: 'trainer failed'},
    });
    assert.deepStrictEqual(post0[0].blocks.at(-1), {
      type: 'actions',
      elements: [
        {
          type: 'button',
          text: {type: 'plain_text', text: 'Open in Cloud Console'},
          url: body.consoleUrl,
        },
      ],
    });
    assert.strictEqual(
      new Set(posts.map(p => (p.blocks[0].text as {text: string}).text)).size,
      2,
      'trainer failed and trainer succeeded',
    );
    assert.ok(!JSON.stringify(d.log.lines).includes('token=secret'));
  });

  it('reconcile closes runs whose state messages were all dropped', async () => {
    const batch = new FakeBatchJobs({project: PROJECT, labels: LABELS});
    const d = deps(batch);
    const ids = Array.from({length: 7}, (_, i) => `trainer-lost${i}`);
    for (const id of ids) {
      await store.create(runRecord(id));
      batch.put(id, id.endsWith('6') ? 'RUNNING' : 'SUCCEEDED');
    }
    const counts = await reconcileRuns({
      ...d,
      olderThanMs: 0,
      batchSize: 3,
      concurrency: 3,
    });
    assert.deepStrictEqual(counts, {
      examined: 7,
      changed: 7,
      notified: 6,
      busy: 0,
      missing: 0,
      failed: 0,
    });
    const mine = () =>
      messages.filter(m => ids.includes(m.attributes.runId)).length;
    await waitFor(() => mine() >= 6, 10_000, 'notifications');
    await new Promise(r => setTimeout(r, 500));
    assert.strictEqual(mine(), 6);
    assert.strictEqual((await store.get('trainer-lost6'))!.state, 'RUNNING');
    // A second pass finds only the still-running run and announces nothing again.
    const again = await reconcileRuns({...d, olderThanMs: 0});
    assert.strictEqual(again.examined, 1);
    assert.strictEqual(again.notified, 0);
  });

  it("a finished run's card says how long it took to start, next to the mapping's pulled median", async () => {
    const d = deps(new FakeBatchJobs({project: PROJECT, labels: LABELS}));
    const t = Date.now() - 3_600_000;
    const time = (s: number) => new Date(t + s * 1000);
    const pulled = {requested: 'auto', enabled: false, reasons: []};
    // Pulled runs that started after 180 s and 200 s, one that never did, and another mapping's.
    for (const [id, startup, extra] of [
      ['trainer-pull1', 180, {}],
      ['trainer-pull2', 200, {}],
      ['trainer-pull3', undefined, {state: 'FAILED'}],
      ['eval-pull4', 900, {mapping: 'eval'}],
    ] as const) {
      await store.create(
        runRecord(id, {
          state: 'SUCCEEDED',
          streaming: pulled,
          launchedAt: time(0),
          startedAt: startup === undefined ? undefined : time(startup),
          notifiedAt: new Date(),
          ...extra,
        }),
      );
    }
    const done = runRecord('trainer-stream1', {
      state: 'SUCCEEDED',
      launchedAt: time(1000),
      startedAt: time(1041),
      finishedAt: time(1100),
      history: [],
    });
    await store.create(done);
    assert.strictEqual(await finishAndNotify(done.id, d), 'notified');
    const line =
      "started in 41 s; this mapping's pulled runs: median 3 min 10 s";
    assert.strictEqual(posts.length, 1);
    assert.ok(posts[0].text.split('\n').includes(line), posts[0].text);
    const context = posts[0].blocks.find(b => b.type === 'context');
    assert.ok(JSON.stringify(context).includes(line), JSON.stringify(context));
    // Its topic message too, so that it cannot arrive during the next test.
    await waitFor(
      () => messages.some(m => m.attributes.runId === done.id),
      10_000,
      'notification',
    );
  });

  it('announces a skipped push once', async () => {
    const d = deps(new FakeBatchJobs({project: PROJECT, labels: LABELS}));
    const skip = runRecord('skip-trainer-abababababab', {
      state: 'SKIPPED',
      jobName: undefined,
      history: [],
    });
    await store.create(skip);
    const outcomes = await Promise.all([
      finishAndNotify(skip.id, d),
      finishAndNotify(skip.id, d),
    ]);
    assert.ok(outcomes.includes('notified'));
    // Only this run's messages: one published by an earlier test may still be on its way.
    const mine = () => messages.filter(m => m.attributes.runId === skip.id);
    await waitFor(() => mine().length >= 1, 10_000, 'notification');
    await new Promise(r => setTimeout(r, 500));
    assert.strictEqual(mine().length, 1);
    assert.strictEqual(mine()[0].attributes.type, 'run.skipped');
  });

  it('ignores jobs pushrun did not launch', async () => {
    const batch = new FakeBatchJobs({project: PROJECT, labels: LABELS});
    const d = deps(batch);
    batch.put('someone-elses-job', 'SUCCEEDED', {labels: {team: 'ml'}});
    const out = await recordJobState(
      {
        jobName: NAME('someone-elses-job'),
        jobId: 'someone-elses-job',
        eventId: 'x',
      },
      d,
    );
    assert.strictEqual(out.kind, 'ignored');
    assert.strictEqual(await store.get('someone-elses-job'), undefined);
    await new Promise(r => setTimeout(r, 500));
    assert.strictEqual(
      messages.filter(m => m.attributes.runId === 'someone-elses-job').length,
      0,
    );
  });
});
