/**
 * Supersede and limits on the real launch path: real pushes to a docker-registry, the real
 * Firestore store on the emulator, the real Batch client against the stand-in over gRPC, and
 * the completion path that announces the end. Pushes are delivered as Pub/Sub does: again
 * after a thrown error.
 */
import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {status} from '@grpc/grpc-js';
import {makeDeps, type Deps} from '../../shared/deps';
import {parseConfig} from '../../shared/config';
import {TransientError} from '../../shared/errors';
import type {ImagePush} from '../../shared/events';
import {parseImageRef} from '../../shared/image_ref';
import {launchRuns, type LaunchOutcome} from '../../shared/launch';
import {buildRunNotification, type Notifier} from '../../shared/notify';
import {replayCommand} from '../../shared/cli/replay_command';
import type {RunRecord} from '../../shared/runs/record';
import {syncJob} from '../../shared/runs/sync';
import {parseSettings} from '../../shared/settings';
import {
  startBatchStandin,
  type BatchStandin,
} from '../../sandbox/batch_standin';
import {startFirestoreEmulator} from '../../sandbox/emulators';
import {useRegistry} from '../../sandbox/registry';
import {pushBuiltImage} from '../../sandbox/images';
import {buildLayeredImage} from '../../sandbox/image_builder';
import {recordingLogger} from '../support/fixtures';
import {runModule} from '../support/cli';

const PROJECT = 'pushrun-guardrails';
const HOST = 'us-central1-docker.pkg.dev';
const REPO = 'acme/ml';
const JOB =
  '{taskGroups: [{taskSpec: {runnables: [{container: {commands: ["true"]}}]}}]}';
const CONFIG = `
notifications: {topic: pushrun-notifications, batchEventsTopic: pushrun-batch-events}
mappings:
  - {name: sup-q, match: {image: ${HOST}/${REPO}/q-*}, supersede: queued, job: ${JOB}}
  - {name: sup-r, match: {image: ${HOST}/${REPO}/r-*}, supersede: running, job: ${JOB}}
  - {name: lim-seq, match: {image: ${HOST}/${REPO}/seq}, limits: {maxRunsPerHour: 2}, job: ${JOB}}
  - {name: lim-conc, match: {image: ${HOST}/${REPO}/conc}, limits: {maxConcurrentRuns: 1}, job: ${JOB}}
  - name: lim-burst
    match: {image: ${HOST}/${REPO}/burst}
    limits: {maxRunsPerHour: 20, maxConcurrentRuns: 5}
    job: ${JOB}
  - {name: lim-again, match: {image: ${HOST}/${REPO}/again}, limits: {maxRunsPerHour: 1}, job: ${JOB}}
  - {name: lim-fail, match: {image: ${HOST}/${REPO}/fail}, limits: {maxRunsPerHour: 1}, job: ${JOB}}
`;

describe('guardrails on the launch path (emulator, registry, Batch stand-in)', function () {
  this.timeout(60_000);
  const registry = useRegistry();
  let standin: BatchStandin;
  let deps: Deps;
  let env: NodeJS.ProcessEnv;
  const notified: RunRecord[] = [];
  const notifier: Notifier = {notifyRun: async r => void notified.push(r)};
  let seq = 0;

  before(async function () {
    process.env.METADATA_SERVER_DETECTION ??= 'none';
    const firestore = await startFirestoreEmulator();
    if (!firestore) return this.skip();
    standin = await startBatchStandin();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushrun-guardrails-'));
    const configFile = path.join(dir, 'pushrun.yaml');
    fs.writeFileSync(configFile, CONFIG);
    env = {
      GOOGLE_CLOUD_PROJECT: PROJECT,
      FIRESTORE_EMULATOR_HOST: firestore.host,
      PUSHRUN_BATCH_ENDPOINT: standin.endpoint,
      PUSHRUN_REGISTRY_ENDPOINT: registry.current.baseUrl,
      PUSHRUN_CONFIG: configFile,
    };
    const {config, errors} = parseConfig(CONFIG, configFile);
    assert.deepStrictEqual(errors, []);
    deps = makeDeps(parseSettings(env), {
      config: config!,
      notifier,
      log: recordingLogger(),
    });
  });
  after(async () => {
    await standin?.stop();
  });

  /** Pushes a new image (a digest never seen before) as `REPO/image`; the push event for it. */
  async function pushed(image: string): Promise<ImagePush> {
    const built = await buildLayeredImage([{'app/id': `${image} ${++seq}`}]);
    await pushBuiltImage(
      registry.current.baseUrl,
      `${REPO}/${image}`,
      built,
      'v1',
    );
    return {
      eventId: `event-${seq}`,
      digestRef: parseImageRef(`${HOST}/${REPO}/${image}@${built.digest}`),
      tag: 'v1',
      publishedAt: new Date(),
    };
  }

  /** Delivers like Pub/Sub: a thrown TransientError means "again". */
  async function deliver(
    push: ImagePush,
    to: Deps = deps,
  ): Promise<LaunchOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        const [outcome] = await launchRuns(push, to);
        return outcome;
      } catch (e) {
        if (!(e instanceof TransientError) || attempt >= 20) throw e;
        await new Promise(r => setTimeout(r, 20 + Math.random() * 40));
      }
    }
  }

  const jobName = (jobId: string) =>
    `projects/${PROJECT}/locations/us-central1/jobs/${jobId}`;
  /** Batch took the cancel: the stand-in ends it a moment later. */
  const assertCancelled = (jobId: string) =>
    assert.match(String(stateOf(jobId)), /^CANCELL(ATION_IN_PROGRESS|ED)$/);
  const stateOf = (jobId: string) =>
    standin.jobs.get(jobName(jobId))?.status.state;
  const cancels = () =>
    standin.requests
      .filter(r => r.method === 'CancelJob')
      .map(r => r.request.name);
  const creates = (jobId: string) =>
    standin.requests.filter(
      r => r.method === 'CreateJob' && r.request.jobId === jobId,
    );
  const launchedId = (o: LaunchOutcome) => {
    assert.ok(o.kind === 'launched' || o.kind === 'exists', JSON.stringify(o));
    return o.jobId;
  };

  describe('supersede', () => {
    it('queued: a newer push cancels the QUEUED run of the same image, announced as run.superseded', async () => {
      const first = launchedId(await deliver(await pushed('q-a')));
      const second = launchedId(await deliver(await pushed('q-a')));
      assert.notStrictEqual(first, second);
      assertCancelled(first);
      assert.strictEqual(stateOf(second), 'QUEUED');
      assert.strictEqual((await deps.store.get(first))?.supersededBy, second);
      await standin.settled();
      assert.strictEqual(stateOf(first), 'CANCELLED');
      // The CANCELLED state message reaches the completion path, which announces it once.
      const job = (await deps.batch.getJob(jobName(first)))!;
      await syncJob(job, deps);
      const notice = notified.filter(r => r.id === first);
      assert.strictEqual(notice.length, 1);
      assert.strictEqual(
        buildRunNotification(notice[0]).attributes.type,
        'run.superseded',
      );
      assert.strictEqual(notice[0].supersededBy, second);
    });

    it('queued leaves a RUNNING run alone; running cancels it', async () => {
      const q = launchedId(await deliver(await pushed('q-b')));
      standin.setState(jobName(q), 'RUNNING');
      launchedId(await deliver(await pushed('q-b')));
      assert.strictEqual(stateOf(q), 'RUNNING');
      assert.ok(!cancels().includes(jobName(q)));

      const r = launchedId(await deliver(await pushed('r-b')));
      standin.setState(jobName(r), 'RUNNING');
      const newer = launchedId(await deliver(await pushed('r-b')));
      assertCancelled(r);
      assert.strictEqual((await deps.store.get(r))?.supersededBy, newer);
      await standin.settled();
    });

    it('never touches another image under the same glob', async () => {
      const other = launchedId(await deliver(await pushed('q-other')));
      const old = launchedId(await deliver(await pushed('q-c')));
      launchedId(await deliver(await pushed('q-c')));
      assert.strictEqual(stateOf(other), 'QUEUED');
      assert.strictEqual(
        (await deps.store.get(other))?.supersededBy,
        undefined,
      );
      assertCancelled(old);
      await standin.settled();
    });

    it('a redelivered push cancels nothing new, and an older push redelivered cancels no newer run', async () => {
      const oldPush = await pushed('q-d');
      const old = launchedId(await deliver(oldPush));
      const newPush = await pushed('q-d');
      const current = launchedId(await deliver(newPush));
      await standin.settled();
      const before = cancels().length;
      assert.strictEqual((await deliver(newPush)).kind, 'exists');
      assert.strictEqual((await deliver(oldPush)).kind, 'exists');
      assert.strictEqual(cancels().length, before);
      assert.strictEqual(stateOf(old), 'CANCELLED');
      assert.strictEqual(stateOf(current), 'QUEUED');
    });

    it('a failed cancel is retried on redelivery; the new job is created once', async () => {
      const old = launchedId(await deliver(await pushed('q-e')));
      const push = await pushed('q-e');
      standin.failNext('CancelJob', status.UNAVAILABLE);
      await assert.rejects(launchRuns(push, deps), TransientError);
      assert.strictEqual(stateOf(old), 'QUEUED');
      const outcome = await deliver(push);
      assert.strictEqual(outcome.kind, 'exists');
      const current = launchedId(outcome);
      assertCancelled(old);
      assert.strictEqual((await deps.store.get(old))?.supersededBy, current);
      // Two CreateJob requests, one job: the second was answered from the first.
      assert.strictEqual(creates(current).length, 2);
      assert.strictEqual(
        [...standin.jobs.keys()].filter(n => n === jobName(current)).length,
        1,
      );
      await standin.settled();
    });
  });

  describe('limits', () => {
    it('maxRunsPerHour: the third push of the hour is skipped with RATE_LIMITED and announced', async () => {
      const outcomes = [];
      const pushes: ImagePush[] = [];
      for (let i = 0; i < 3; i++) {
        pushes.push(await pushed('seq'));
        outcomes.push(await deliver(pushes[i]));
      }
      // Another message of the skipped push (a second tag) is skipped too, and makes no job.
      const again = await deliver({...pushes[2], eventId: 'again', tag: 'v2'});
      assert.strictEqual(again.kind, 'skipped');
      const jobId = `lim-seq-${pushes[2].digestRef.digest!.slice(7, 19)}`;
      assert.strictEqual(await deps.store.get(jobId), undefined);
      assert.deepStrictEqual(
        outcomes.map(o => o.kind),
        ['launched', 'launched', 'skipped'],
      );
      const skipped = notified.filter(r => r.mapping === 'lim-seq');
      assert.strictEqual(skipped.length, 1);
      assert.strictEqual(skipped[0].state, 'SKIPPED');
      assert.strictEqual(skipped[0].skipCode, 'RATE_LIMITED');
      assert.match(skipped[0].id, /^skip-lim-seq-[0-9a-f]{12}$/);
      assert.match(skipped[0].skipReason!, /2 of 2 runs this hour/);
      assert.strictEqual(
        buildRunNotification(skipped[0]).attributes.type,
        'run.skipped',
      );
      assert.strictEqual(
        standin.requests.filter(
          r =>
            r.method === 'CreateJob' &&
            String(r.request.jobId).startsWith('lim-seq-'),
        ).length,
        2,
      );
    });

    it('maxConcurrentRuns: a push is skipped while a run is open, and replay launches it once there is room', async () => {
      const first = launchedId(await deliver(await pushed('conc')));
      const push = await pushed('conc');
      const skipped = await deliver(push);
      assert.strictEqual(skipped.kind, 'skipped');
      const skipId = `skip-lim-conc-${push.digestRef.digest!.slice(7, 19)}`;
      assert.strictEqual(
        (await deps.store.get(skipId))?.skipCode,
        'CONCURRENCY_LIMITED',
      );

      standin.setState(jobName(first), 'SUCCEEDED');
      await syncJob((await deps.batch.getJob(jobName(first)))!, deps);
      const replay = await runModule(
        replayCommand({notifier, log: recordingLogger()}),
        ['replay', `${HOST}/${REPO}/conc@${push.digestRef.digest}`],
        env,
      );
      assert.strictEqual(replay.code, 0, replay.err);
      assert.match(replay.out, /✔ lim-conc: job lim-conc-[0-9a-f]{12} created/);
      // The old skip stays on record; the run now has its own.
      assert.strictEqual((await deps.store.get(skipId))?.state, 'SKIPPED');
    });

    it('50 concurrent pushes on five instances launch exactly maxConcurrentRuns', async () => {
      const pushes = await Promise.all(
        Array.from({length: 50}, () => pushed('burst')),
      );
      // Five function instances: each its own Firestore and Batch clients.
      const instances = Array.from({length: 5}, () =>
        makeDeps(parseSettings(env), {
          config: deps.config,
          notifier,
          log: recordingLogger(),
        }),
      );
      const started = Date.now();
      const outcomes = await Promise.all(
        pushes.map((p, i) => deliver(p, instances[i % instances.length])),
      );
      const took = Date.now() - started;
      const kinds = outcomes.map(o => o.kind);
      assert.strictEqual(
        kinds.filter(k => k === 'launched').length,
        5,
        kinds.join(),
      );
      assert.strictEqual(kinds.filter(k => k === 'skipped').length, 45);
      const jobs = [...standin.jobs.keys()].filter(n =>
        n.includes('/jobs/lim-burst-'),
      );
      assert.strictEqual(jobs.length, 5);
      const runs = await deps.store.list({mapping: 'lim-burst', limit: 100});
      assert.strictEqual(
        runs.filter(r => r.skipCode === 'CONCURRENCY_LIMITED').length,
        45,
      );
      console.log(`      50 concurrent pushes took ${took} ms`);
    });

    it('a redelivery is never counted twice nor skipped, even after a failed create', async () => {
      const push = await pushed('again');
      standin.failNext('CreateJob', status.UNAVAILABLE);
      await assert.rejects(launchRuns(push, deps), TransientError);
      assert.strictEqual((await deliver(push)).kind, 'launched');
      assert.strictEqual((await deliver(push)).kind, 'exists');
      assert.strictEqual((await deliver(push)).kind, 'exists');
      assert.strictEqual(
        (await deliver(await pushed('again'))).kind,
        'skipped',
      );
    });

    it('a create Batch refuses for good releases its reservation', async () => {
      standin.failNext('CreateJob', status.INVALID_ARGUMENT);
      const refused = await deliver(await pushed('fail'));
      assert.strictEqual(refused.kind, 'failed');
      assert.strictEqual(
        (await deliver(await pushed('fail'))).kind,
        'launched',
      );
      assert.strictEqual((await deliver(await pushed('fail'))).kind, 'skipped');
    });
  });
});
