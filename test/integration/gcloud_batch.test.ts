/**
 * Templates read the way gcloud reads them. Each template goes through the real
 * `gcloud batch jobs submit --config` (pointed at a recording stand-in of the REST APIs on
 * loopback, with a fake token) and through pushrun; the job gcloud sends and the job pushrun
 * builds must agree field by field, but for what pushrun adds by design: the pinned image and
 * the streaming flag, its labels (on the job and on allocationPolicy), its notification and the
 * service account.
 */
import * as assert from 'node:assert';
import {execFile} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {parse} from 'yaml';
import {parseConfig} from '../../shared/config';
import {fillTemplate} from '../../shared/config/placeholders';
import {parseImageRef} from '../../shared/image_ref';
import {buildCreateJobRequest} from '../../shared/job_builder';
import {
  canonicalJobTemplate,
  jobToProto3JSON,
} from '../../shared/batch/convert';
import {repoRoot} from '../../sandbox/functions';
import {GoogleRest} from '../support/google_rest';
import {
  expectedLeaves,
  jobLeaves,
  leafDifferences,
} from '../support/job_leaves';
import {GUIDE_JOB, RICH_JOB} from '../support/templates';

const PROJECT = 'pushrun-gcloud';
const REGION = 'us-central1';
const IMAGE = 'us-central1-docker.pkg.dev/acme/ml/trainer';
const DIGEST = 'sha256:' + '5e'.repeat(32);
const PINNED = `${IMAGE}@${DIGEST}`;
const TAG = 'v1.2';
const JOBS_SA = `pushrun-jobs@${PROJECT}.iam.gserviceaccount.com`;
const VALUES = {
  IMAGE: PINNED,
  IMAGE_DIGEST: DIGEST,
  IMAGE_TAG: TAG,
  IMAGE_NAME: IMAGE,
  MAPPING: 'm',
};

const example = parse(
  fs.readFileSync(path.join(repoRoot(), 'config', 'pushrun.yaml'), 'utf8'),
) as {mappings: {name: string; job?: unknown}[]};
const exampleJob = (name: string) =>
  example.mappings.find(m => m.name === name)!.job;

/** Proto field names and nulls, as proto3 JSON allows and gcloud takes. */
const PROTO_NAMES_JOB = {
  task_groups: [
    {
      task_count: '2',
      parallelism: null,
      task_spec: {
        max_run_duration: '60s',
        max_retry_count: 2,
        runnables: [{container: {image_uri: '${IMAGE}', commands: ['x']}}],
        compute_resource: {cpu_milli: 2000, memory_mib: '4096'},
      },
    },
  ],
  allocation_policy: {
    instances: [
      {
        policy: {machine_type: 'e2-standard-4', provisioning_model: 'SPOT'},
        instance_template: null,
      },
    ],
  },
  labels: {my_label: 'x'},
  logs_policy: {destination: 'CLOUD_LOGGING'},
};

const CASES: {name: string; job: unknown; streams: boolean}[] = [
  {name: "the image-streaming guide's job", job: GUIDE_JOB, streams: true},
  {name: 'the rich template', job: RICH_JOB, streams: true},
  {
    name: "the example's jobs/render-frames.json",
    job: JSON.parse(
      fs.readFileSync(
        path.join(repoRoot(), 'config', 'jobs', 'render-frames.json'),
        'utf8',
      ),
    ),
    streams: true,
  },
  {name: "the example's trainer", job: exampleJob('trainer'), streams: true},
  {
    name: "the example's nightly-report",
    job: exampleJob('nightly-report'),
    streams: false,
  },
  {
    name: 'proto field names and null for defaults',
    job: PROTO_NAMES_JOB,
    streams: true,
  },
];

/** Runs gcloud without blocking this process, which serves the stand-in gcloud talks to. */
function gcloud(
  args: string[],
  env: Record<string, string>,
): Promise<{code: number; stderr: string}> {
  return new Promise(resolve =>
    execFile(
      'gcloud',
      args,
      {env: {...process.env, ...env}, encoding: 'utf8', timeout: 60_000},
      (err, _stdout, stderr) =>
        resolve({code: err ? Number(err.code ?? 1) : 0, stderr}),
    ),
  );
}

describe('templates through gcloud batch jobs submit and through pushrun', function () {
  this.timeout(120_000);
  let rest: GoogleRest;
  let dir: string;
  let env: Record<string, string>;

  before(async function () {
    const probe = await gcloud(['--version'], {});
    if (probe.code !== 0) {
      console.log(
        'SKIPPED: gcloud comparison: the Google Cloud CLI (gcloud) is not installed',
      );
      this.skip();
    }
    rest = await GoogleRest.start(PROJECT, '424242424242');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushrun-gcloud-batch-'));
    env = rest.gcloudEnv(path.join(dir, 'gcloud-config'));
  });

  after(async () => {
    await rest?.close();
    if (dir) fs.rmSync(dir, {recursive: true, force: true});
  });

  /** The job gcloud sends for a template, as the REST body it POSTs. */
  async function viaGcloud(jobId: string, template: unknown) {
    const file = path.join(dir, `${jobId}.json`);
    fs.writeFileSync(file, JSON.stringify(fillTemplate(template, VALUES)));
    const r = await gcloud(
      [
        'batch',
        'jobs',
        'submit',
        jobId,
        `--location=${REGION}`,
        `--project=${PROJECT}`,
        `--config=${file}`,
        '--format=none',
      ],
      env,
    );
    assert.strictEqual(r.code, 0, r.stderr);
    const sent = rest.requests.filter(
      q => q.api === 'batch' && q.method === 'POST' && q.query.jobId === jobId,
    );
    assert.strictEqual(sent.length, 1, `one CreateJob for ${jobId}`);
    return sent[0].body as Record<string, unknown>;
  }

  /** The job pushrun builds for the same template, in proto3 JSON. */
  function viaPushrun(template: unknown, streams: boolean) {
    const {config, errors} = parseConfig(
      `notifications: {batchEventsTopic: pushrun-batch-events}
mappings:
  - name: m
    match: {image: ${IMAGE}}
    streaming: ${streams ? 'auto' : '"off"'}
    job: ${JSON.stringify(template)}
`,
      'c.yaml',
    );
    assert.deepStrictEqual(errors, []);
    const request = buildCreateJobRequest({
      mapping: config!.mappings[0],
      config: config!,
      ref: parseImageRef(PINNED),
      tag: TAG,
      verdict: {streamable: streams, reasons: []},
      project: PROJECT,
      region: REGION,
      serviceAccount: JOBS_SA,
    });
    return jobToProto3JSON(request.job);
  }

  CASES.forEach((c, i) => {
    it(`${c.name}: the same job but for what pushrun adds`, async () => {
      const fromGcloud = await viaGcloud(`case-${i}`, c.job);
      const want = expectedLeaves(canonicalJobTemplate(fromGcloud), {
        pinned: PINNED,
        mapping: 'm',
        digest: DIGEST,
        streams: c.streams,
        eventsTopic: `projects/${PROJECT}/topics/pushrun-batch-events`,
        serviceAccount: JOBS_SA,
      });
      const got = jobLeaves(viaPushrun(c.job, c.streams));
      assert.deepStrictEqual(leafDifferences(want, got), []);
    });
  });

  // gcloud refuses a fraction for an integer. (It lets an int32 past its range through to the
  // server, which refuses it there; pushrun refuses that one first.)
  it('what gcloud refuses, pushrun refuses too', async () => {
    const refused = [
      {
        taskGroups: [
          {taskCount: '1.5', taskSpec: GUIDE_JOB.taskGroups[0].taskSpec},
        ],
      },
      {
        taskGroups: [
          {taskCount: 1.5, taskSpec: GUIDE_JOB.taskGroups[0].taskSpec},
        ],
      },
    ];
    for (const [i, job] of refused.entries()) {
      const file = path.join(dir, `refused-${i}.json`);
      fs.writeFileSync(file, JSON.stringify(job));
      const r = await gcloud(
        [
          'batch',
          'jobs',
          'submit',
          `refused-${i}`,
          `--location=${REGION}`,
          `--project=${PROJECT}`,
          `--config=${file}`,
          '--format=none',
        ],
        env,
      );
      assert.notStrictEqual(r.code, 0, `gcloud took ${JSON.stringify(job)}`);
      const {errors} = parseConfig(
        `mappings:\n  - name: m\n    match: {image: ${IMAGE}}\n    job: ${JSON.stringify(job)}\n`,
        'c.yaml',
      );
      assert.ok(errors.length > 0, `pushrun took ${JSON.stringify(job)}`);
    }
  });
});
