/**
 * The whole loop through the real functions: a push event starts jobs on the Batch stand-in,
 * Batch's state messages (out of order, duplicated) reach onJobStateChange, reconcileRuns
 * closes runs whose messages were lost, and the CLI shows what happened.
 */
import * as assert from 'node:assert';
import type {Message} from '@google-cloud/pubsub';
import {JobState} from '../../shared/batch/job_state';
import {main} from '../../shared/cli/main';
import type {RunRecord} from '../../shared/runs/record';
import {startStack, type Stack} from '../../sandbox/stack';
import {batchStateMessage} from '../../sandbox/batch_messages';
import {postPubsubCloudEvent} from '../../sandbox/functions';
import {pushImage, type ImageSpec} from '../../sandbox/images';

const PROJECT = 'pushrun-e2e';
const HOST = 'us-central1-docker.pkg.dev';
const MAPPINGS = ['e2e-a', 'e2e-b', 'e2e-c'];
const CONFIG = `
notifications: {topic: pushrun-notifications, batchEventsTopic: pushrun-batch-events}
mappings:
${MAPPINGS.map(
  name => `  - name: ${name}
    match: {image: ${HOST}/acme/e2e/*}
    job:
      taskGroups:
        - taskSpec:
            runnables:
              - container: {commands: ["echo", "\${MAPPING}"]}
`,
).join('')}`;

const PATH: JobState[] = ['QUEUED', 'SCHEDULED', 'RUNNING', 'SUCCEEDED'];

/** A small seeded generator, so a failing order can be replayed from its seed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function shuffle<T>(items: T[], rnd: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

describe('end to end through the functions', function () {
  this.timeout(180_000);
  let stack: Stack;
  let notices: Message[] = [];

  before(async function () {
    const started = await startStack({
      project: PROJECT,
      configText: CONFIG,
      functions: ['onImagePush', 'onJobStateChange', 'reconcileRuns'],
      keepEmulators: true,
      env: {PUSHRUN_RECONCILE_AFTER: '0s'},
    });
    if ('missing' in started) {
      console.log(`SKIPPED: end-to-end tests: ${started.missing}`);
      this.skip();
    }
    stack = started;
    notices = await stack.watchNotifications();
  });

  after(async () => {
    await stack?.stop();
  });

  /** Posts until acknowledged, the way Pub/Sub redelivers after a non-2xx answer. */
  async function deliver(
    url: string,
    data: Buffer | string,
    attributes: Record<string, string>,
  ) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const status = await postPubsubCloudEvent(url, {data, attributes});
      if (status < 300) return attempt;
      await new Promise(r => setTimeout(r, 150));
    }
    throw new Error('never acknowledged');
  }

  async function push(repo: string, spec: ImageSpec, tag: string) {
    const digest = await pushImage(stack.registry.baseUrl, repo, tag, spec);
    const payload = {
      action: 'INSERT',
      digest: `${HOST}/${repo}@${digest}`,
      tag: `${HOST}/${repo}:${tag}`,
    };
    await deliver(
      stack.functions.onImagePush!.url,
      JSON.stringify(payload),
      {},
    );
    return digest;
  }

  const jobsOf = (digest: string) =>
    [...stack.standin.jobs.values()].filter(
      j => j.labels?.['pushrun-digest'] === digest.slice(7, 39),
    );

  async function noticesFor(id: string, settleMs = 1500): Promise<Message[]> {
    await new Promise(r => setTimeout(r, settleMs));
    return notices.filter(m => m.attributes.runId === id);
  }

  it('out-of-order, duplicated state messages end as one SUCCEEDED record and one notification per run', async () => {
    const digest = await push('acme/e2e/app', 'clean', 'v1');
    const jobs = jobsOf(digest);
    assert.deepStrictEqual(
      jobs.map(j => j.labels!['pushrun-mapping']).sort(),
      MAPPINGS,
    );
    const recorder = stack.functions.onJobStateChange!.url;

    await Promise.all(
      jobs.map(async (job, n) => {
        const rnd = random(1000 + n);
        // Every state's message, twice or three times, delivered in a random order while
        // Batch moves on: each message is a hint about a state Batch may have left already.
        const messages = shuffle(
          PATH.flatMap(s =>
            Array.from({length: 2 + Math.floor(rnd() * 2)}, () => s),
          ),
          rnd,
        );
        for (let step = 0; step < PATH.length; step++) {
          stack.standin.setState(job.name, PATH[step]);
          const batch = messages.splice(
            0,
            Math.ceil(messages.length / (PATH.length - step)),
          );
          await Promise.all(
            batch.map(state => {
              const msg = batchStateMessage(job, state);
              return deliver(recorder, msg.data, msg.attributes);
            }),
          );
        }
      }),
    );

    const store = stack.store();
    for (const job of jobs) {
      const id = job.name.split('/').pop()!;
      const record = (await store.get(id)) as RunRecord;
      assert.strictEqual(record.state, 'SUCCEEDED', id);
      assert.strictEqual(record.history.at(-1)?.state, 'SUCCEEDED');
      assert.ok(record.notifiedAt, 'notifiedAt set');
      assert.ok(record.pushedAt && record.launchedAt && record.finishedAt);
      assert.deepStrictEqual(record.tags, ['v1']);
      assert.strictEqual(record.streaming.enabled, true);
      const sent = await noticesFor(id, 0);
      assert.ok(sent.length <= 1, `${sent.length} notifications for ${id}`);
    }
    for (const job of jobs) {
      const id = job.name.split('/').pop()!;
      const sent = await noticesFor(id);
      assert.strictEqual(sent.length, 1, `notifications for ${id}`);
      assert.deepStrictEqual(
        {type: sent[0].attributes.type, state: sent[0].attributes.state},
        {type: 'run.succeeded', state: 'SUCCEEDED'},
      );
      const body = JSON.parse(sent[0].data.toString());
      assert.strictEqual(body.digest, digest);
      assert.match(
        body.consoleUrl,
        /console\.cloud\.google\.com\/batch\/jobsDetail\/regions\/us-central1\/jobs\//,
      );
    }
  });

  it('reconcileRuns closes a run whose state messages were all lost', async () => {
    const digest = await push('acme/e2e/quiet', 'tiny-layer', 'v1');
    const [job] = jobsOf(digest);
    const id = job.name.split('/').pop()!;
    for (const state of PATH) stack.standin.setState(job.name, state);
    assert.strictEqual((await stack.store().get(id))?.state, 'QUEUED');

    const status = await postPubsubCloudEvent(
      stack.functions.reconcileRuns!.url,
      {data: '{}'},
    );
    assert.ok(status < 300, `reconcile answered ${status}`);
    const record = await stack.store().get(id);
    assert.strictEqual(record?.state, 'SUCCEEDED');
    assert.strictEqual((await noticesFor(id)).length, 1);
  });

  it('an untagged child manifest for another platform starts nothing', async () => {
    const digest = await pushImage(
      stack.registry.baseUrl,
      'acme/e2e/arm',
      'arm64',
      'arm64-only',
    );
    const launcher = stack.functions.onImagePush!;
    const before = launcher.logs.length;
    const payload = {
      action: 'INSERT',
      digest: `${HOST}/acme/e2e/arm@${digest}`,
    };
    assert.ok(
      (await postPubsubCloudEvent(launcher.url, {
        data: JSON.stringify(payload),
      })) < 300,
    );
    assert.deepStrictEqual(jobsOf(digest), []);
    assert.deepStrictEqual(
      await stack.store().list({image: `${HOST}/acme/e2e/arm`}),
      [],
    );
    assert.ok(
      launcher.logs
        .slice(before)
        .some(l => l.decision === 'unmatched' && l.digest === digest),
      JSON.stringify(launcher.logs.slice(before)),
    );
  });

  it('ignores jobs pushrun did not launch, and malformed messages', async () => {
    const recorder = stack.functions.onJobStateChange!.url;
    const foreign = {
      name: `projects/${PROJECT}/locations/us-central1/jobs/not-ours`,
      uid: 'u-1',
    };
    const before = stack.functions.onJobStateChange!.logs.length;
    for (const [data, attributes] of [
      [
        batchStateMessage(foreign, 'SUCCEEDED').data,
        batchStateMessage(foreign, 'SUCCEEDED').attributes,
      ],
      ['', {Type: 'JOB_STATE_CHANGED'}],
      ['x', {Type: 'TASK_STATE_CHANGED', JobName: 'j'}],
    ] as const) {
      assert.ok(
        (await postPubsubCloudEvent(recorder, {
          data,
          attributes: {...attributes},
        })) < 300,
      );
    }
    assert.strictEqual(await stack.store().get('not-ours'), undefined);
    const lines = stack.functions.onJobStateChange!.logs.slice(before);
    assert.ok(lines.length >= 3, 'one log line per ignored message');
    assert.ok(
      lines.every(l => /ignored/.test(String(l.message))),
      JSON.stringify(lines),
    );
  });

  it('pushrun replay runs the launch path again: nothing new for a handled push, one mapping when asked', async () => {
    const env = {...process.env, ...stack.env};
    const run = async (...args: string[]) => {
      let out = '';
      const code = await main(
        ['node', 'pushrun', 'replay', ...args],
        env,
        t => (out += t),
        t => (out += t),
      );
      return {code, out};
    };
    const handled = [...stack.standin.jobs.values()].find(
      j => j.labels?.['pushrun-mapping'] === 'e2e-a',
    )!;
    const digest = `sha256:${handled.labels!['pushrun-digest']}`;
    const full = (await stack.store().get(handled.name.split('/').pop()!))!
      .digest;
    assert.ok(full.startsWith(digest));
    const before = stack.standin.jobs.size;
    const again = await run(`${HOST}/acme/e2e/app@${full}`);
    assert.strictEqual(again.code, 0, again.out);
    assert.match(again.out, /exists already/);
    assert.strictEqual(stack.standin.jobs.size, before);

    const fresh = await pushImage(
      stack.registry.baseUrl,
      'acme/e2e/replayed',
      'v9',
      'oci',
    );
    const one = await run(
      `${HOST}/acme/e2e/replayed:v9@${fresh}`,
      '--mapping',
      'e2e-b',
    );
    assert.strictEqual(one.code, 0, one.out);
    assert.deepStrictEqual(
      jobsOf(fresh).map(j => j.labels!['pushrun-mapping']),
      ['e2e-b'],
    );
    const record = await stack.store().get(`e2e-b-${fresh.slice(7, 19)}`);
    assert.deepStrictEqual(record?.tags, ['v9']);

    const bad = await run(`${HOST}/acme/e2e/replayed:v9`);
    assert.strictEqual(bad.code, 2);
    assert.match(bad.out, /digest/);
  });

  it('pushrun runs lists the runs and pushrun runs show explains one', async () => {
    const env = {
      ...process.env,
      GOOGLE_CLOUD_PROJECT: PROJECT,
      FIRESTORE_EMULATOR_HOST: stack.firestoreHost,
    };
    let out = '';
    const code = await main(
      ['node', 'pushrun', 'runs', '--json', '--mapping', 'e2e-a'],
      env,
      t => (out += t),
      () => undefined,
    );
    assert.strictEqual(code, 0);
    const runs = JSON.parse(out) as RunRecord[];
    assert.ok(runs.length >= 2);
    assert.ok(
      runs.every(r => r.mapping === 'e2e-a' && r.state === 'SUCCEEDED'),
    );

    out = '';
    const shown = await main(
      ['node', 'pushrun', 'runs', 'show', runs[0].id],
      env,
      t => (out += t),
      () => undefined,
    );
    assert.strictEqual(shown, 0);
    assert.match(out, new RegExp(runs[0].id));
    for (const state of ['QUEUED', 'SUCCEEDED'])
      assert.match(out, new RegExp(state));
  });
});
