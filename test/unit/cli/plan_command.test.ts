import * as assert from 'node:assert';
import * as path from 'node:path';
import * as sinon from 'sinon';
import {planCommand, type PlanReport} from '../../../shared/cli/plan_command';
import type {
  ContentStore,
  FetchedManifest,
  Registry,
} from '../../../shared/registry';
import {writeFixtures} from '../config/fixtures';
import {runModule} from '../../support/cli';
import {MemoryRunStore} from '../../../shared/runs/memory_store';
import {FakeBatchJobs, runRecord} from '../../support/fixtures';

const IMAGE = 'us-central1-docker.pkg.dev/my-project/ml/trainer';
const DIGEST = 'sha256:' + 'd'.repeat(64);
/** The parts of a job in proto3 JSON the tests read. */
interface JobJson {
  taskGroups: {
    taskSpec: {runnables: {container: unknown}[]; maxRunDuration: string};
  }[];
  labels: Record<string, string>;
}

const CONFIG_DIGEST = 'sha256:' + 'e'.repeat(64);

const MANIFEST: FetchedManifest = {
  digest: DIGEST,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 500,
  json: {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: CONFIG_DIGEST,
      size: 100,
    },
    layers: [
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: 'sha256:' + '1'.repeat(64),
        size: 1_000_000,
      },
    ],
  },
};

/** A registry that holds one image, tagged v2.0.0; records what it was asked. */
function fakeRegistry() {
  const manifest = sinon.fake(async (reference: string) => {
    if (reference === 'v2.0.0' || reference === DIGEST) return MANIFEST;
    throw Object.assign(new Error(`manifest ${reference} not found`), {
      status: 404,
      transient: false,
    });
  });
  const blob = sinon.fake(async (digest: string) => {
    if (digest === CONFIG_DIGEST) {
      return Buffer.from(
        JSON.stringify({
          os: 'linux',
          architecture: 'amd64',
          rootfs: {type: 'layers', diff_ids: ['sha256:' + '2'.repeat(64)]},
        }),
      );
    }
    throw new Error(`unexpected blob ${digest}`);
  });
  const store = sinon.fake((): ContentStore => ({
    manifest,
    blob,
  }));
  const registry = {store, requestCount: 0} as unknown as Registry;
  return {registry, store, manifest};
}

const CONFIG = `mappings:
  - name: trainer
    match: {image: ${IMAGE}, tags: ["semver:>=2"]}
    streaming: required
    job:
      taskGroups:
        - taskSpec:
            runnables: [{container: {commands: [train, "\${IMAGE_TAG}"]}}]
            maxRunDuration: 600s
  - name: any
    match: {image: "${IMAGE}"}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {}}]}}]}
`;

async function plan(
  args: string[],
  env: NodeJS.ProcessEnv = {GOOGLE_CLOUD_PROJECT: 'batch-project'},
) {
  const dir = writeFixtures({'c.yaml': CONFIG});
  const fake = fakeRegistry();
  const r = await runModule(
    planCommand({registry: () => fake.registry}),
    ['plan', '--config', path.join(dir, 'c.yaml'), ...args],
    env,
  );
  return {...r, fake};
}

describe('pushrun plan', () => {
  afterEach(() => sinon.restore());

  it('resolves a tag to its digest and prints both requests as JSON', async () => {
    const r = await plan([`${IMAGE}:v2.0.0`, '--json']);
    assert.strictEqual(r.code, 0, r.err);
    const report = JSON.parse(r.out) as PlanReport;
    assert.strictEqual(report.digest, DIGEST);
    assert.strictEqual(report.tag, 'v2.0.0');
    assert.strictEqual(report.project, 'batch-project');
    assert.deepStrictEqual(
      report.runs.map(x => x.mapping),
      ['trainer', 'any'],
    );
    const trainer = report.runs[0];
    assert.strictEqual(trainer.verdict.streamable, true);
    assert.strictEqual(
      trainer.request!.parent,
      'projects/batch-project/locations/us-central1',
    );
    assert.strictEqual(trainer.request!.jobId, 'trainer-dddddddddddd');
    const job = trainer.request!.job as unknown as JobJson;
    const container = job.taskGroups[0].taskSpec.runnables[0].container;
    assert.deepStrictEqual(container, {
      imageUri: `${IMAGE}@${DIGEST}`,
      commands: ['train', 'v2.0.0'],
      enableImageStreaming: true,
    });
    assert.strictEqual(job.taskGroups[0].taskSpec.maxRunDuration, '600s');
    assert.strictEqual(job.labels['pushrun-mapping'], 'trainer');
    assert.deepStrictEqual(r.fake.manifest.firstCall.args, ['v2.0.0']);
  });

  it('plans an untagged push by digest: tag filters do not match', async () => {
    const r = await plan([`${IMAGE}@${DIGEST}`, '--json'], {});
    assert.strictEqual(r.code, 0, r.err);
    const report = JSON.parse(r.out) as PlanReport;
    assert.strictEqual(report.tag, null);
    assert.strictEqual(
      report.project,
      'my-project',
      'the project of the Artifact Registry image',
    );
    assert.deepStrictEqual(
      report.runs.map(x => x.mapping),
      ['any'],
    );
  });

  it('gives jobs the identity the launcher gives them (PUSHRUN_JOB_SERVICE_ACCOUNT)', async () => {
    const sa = 'pushrun-jobs@batch-project.iam.gserviceaccount.com';
    const r = await plan([`${IMAGE}@${DIGEST}`, '--json'], {
      GOOGLE_CLOUD_PROJECT: 'batch-project',
      PUSHRUN_JOB_SERVICE_ACCOUNT: sa,
    });
    assert.strictEqual(r.code, 0, r.err);
    const report = JSON.parse(r.out) as PlanReport;
    for (const run of report.runs) {
      const job = run.request!.job as {
        allocationPolicy?: {serviceAccount?: {email?: string}};
      };
      assert.strictEqual(job.allocationPolicy?.serviceAccount?.email, sa);
    }
  });

  it('--tag sets the tag of a push by digest', async () => {
    const r = await plan([`${IMAGE}@${DIGEST}`, '--tag', '2.1', '--json']);
    const report = JSON.parse(r.out) as PlanReport;
    assert.deepStrictEqual(
      report.runs.map(x => x.mapping),
      ['trainer', 'any'],
    );
  });

  it('prints a readable plan', async () => {
    const r = await plan([`${IMAGE}:v2.0.0`]);
    assert.strictEqual(r.code, 0);
    assert.match(
      r.out,
      /mapping trainer \(streaming: required, region: us-central1\)\n {2}verdict: streamable\n {2}createJob: projects\/batch-project\/locations\/us-central1\/jobs\/trainer-dddddddddddd\n/,
    );
  });

  it('exits 1 with the config problems when the config is invalid', async () => {
    const dir = writeFixtures({'bad.yaml': 'mappings:\n  - name: Bad\n'});
    const r = await plan([
      `${IMAGE}:v2.0.0`,
      '--config',
      path.join(dir, 'bad.yaml'),
    ]);
    assert.strictEqual(r.code, 1);
    assert.match(r.err, /bad\.yaml:2:5 mappings\.0 is missing "match"/);
    assert.strictEqual(r.fake.store.callCount, 0, 'the registry is not asked');
  });

  const failures = [
    {
      name: 'a bad reference',
      args: ['Not/A Ref'],
      err: /pushrun plan: invalid image reference/,
    },
    {
      name: 'an image the registry lacks',
      args: [`${IMAGE}:missing`],
      err: /could not read .*:missing from the registry: manifest missing not found/,
    },
  ];
  for (const c of failures) {
    it(`exits 2 on ${c.name}`, async () => {
      const r = await plan(c.args);
      assert.strictEqual(r.code, 2);
      assert.match(r.err, c.err);
      assert.strictEqual(r.out, '');
    });
  }
});

describe('pushrun plan with supersede and limits', () => {
  const GUARDED = `mappings:
  - name: trainer
    match: {image: ${IMAGE}}
    supersede: queued
    limits: {maxRunsPerHour: 2}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {}}]}}]}
`;
  const HOUR_AGO = new Date(Date.now() - 30 * 60_000);

  function setup() {
    const store = new MemoryRunStore();
    const batch = new FakeBatchJobs();
    const run = (id: string, state: 'QUEUED' | 'RUNNING', image = IMAGE) => {
      store.records.set(id, runRecord(id, {image, createdAt: HOUR_AGO}));
      batch.put(id, state);
    };
    run('trainer-aaaaaaaaaaaa', 'QUEUED');
    run('trainer-bbbbbbbbbbbb', 'RUNNING');
    run('trainer-cccccccccccc', 'QUEUED', `${IMAGE}-other`);
    const plan = async (json = false) => {
      const dir = writeFixtures({'c.yaml': GUARDED});
      const fake = fakeRegistry();
      return runModule(
        planCommand({
          registry: () => fake.registry,
          store: () => store,
          batch: () => batch,
        }),
        [
          'plan',
          '--config',
          path.join(dir, 'c.yaml'),
          `${IMAGE}@${DIGEST}`,
          ...(json ? ['--json'] : []),
        ],
        {GOOGLE_CLOUD_PROJECT: 'batch-project'},
      );
    };
    return {store, batch, plan};
  }

  it('shows the older runs of the image that Batch still has queued', async () => {
    const {batch, plan} = setup();
    const r = await plan();
    assert.strictEqual(r.code, 0, r.err);
    assert.match(
      r.out,
      /\n {2}limits: maxRunsPerHour 2 \(0 this hour, 0 not yet finished\)\n {2}supersede: queued\n {4}would cancel trainer-aaaaaaaaaaaa \(QUEUED\)\n {2}createJob:/,
    );
    assert.doesNotMatch(r.out, /trainer-bbbbbbbbbbbb|trainer-cccccccccccc/);
    assert.deepStrictEqual(batch.cancelled, [], 'plan cancels nothing');
  });

  it('shows a push a limit would skip, and that it would then cancel nothing', async () => {
    const {store, plan} = setup();
    store.counters.set('trainer', {
      launches: [
        {jobId: 'trainer-aaaaaaaaaaaa', at: HOUR_AGO, open: true},
        {jobId: 'trainer-bbbbbbbbbbbb', at: HOUR_AGO, open: true},
      ],
    });
    const r = await plan();
    assert.match(r.out, /\n {4}would be skipped: 2 of 2 runs this hour\n/);
    assert.match(r.out, /would cancel nothing/);
    const report = JSON.parse((await plan(true)).out) as PlanReport;
    const g = report.runs[0].guardrails!;
    assert.strictEqual(g.limits!.wouldSkip!.code, 'RATE_LIMITED');
    assert.deepStrictEqual(g.supersede, {policy: 'queued', wouldCancel: []});
    assert.ok(
      report.runs[0].request,
      'the request a push sends once there is room',
    );
    assert.strictEqual(store.counters.get('trainer')!.launches.length, 2);
  });

  it('says so when the run store cannot tell, and still prints the plan', async () => {
    const {store, plan} = setup();
    store.get = async () => {
      throw new Error('Firestore get failed: UNAVAILABLE');
    };
    const r = await plan();
    assert.strictEqual(r.code, 0);
    assert.match(r.out, /guardrails: could not tell: Firestore get failed/);
    assert.match(r.out, /createJob:/);
  });

  it('reads neither the store nor Batch for a mapping without them', async () => {
    const dir = writeFixtures({'c.yaml': CONFIG});
    const fake = fakeRegistry();
    const store = sinon.fake.throws(new Error('no store here'));
    const r = await runModule(
      planCommand({registry: () => fake.registry, store, batch: store}),
      [
        'plan',
        '--config',
        path.join(dir, 'c.yaml'),
        `${IMAGE}:v2.0.0`,
        '--json',
      ],
      {GOOGLE_CLOUD_PROJECT: 'batch-project'},
    );
    assert.strictEqual(r.code, 0, r.err);
    assert.strictEqual(store.callCount, 0);
    const report = JSON.parse(r.out) as PlanReport;
    assert.deepStrictEqual(
      report.runs.map(x => x.guardrails),
      [null, null],
    );
  });
});
