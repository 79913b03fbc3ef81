/**
 * What Google reads from the CreateJob requests a real push sends. Pushes go through
 * onImagePush under functions-framework to the Batch stand-in, which keeps each request's bytes;
 * the bytes are decoded with Google's own protobuf runtime (the Python one inside the Google
 * Cloud CLI), which keeps only the last member of a `oneof`. Every field of each template must
 * arrive as written, and nothing may arrive that neither the template nor pushrun put there.
 * `pushrun plan` must show the very same request.
 */
import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import {parse, stringify} from 'yaml';
import {fillTemplate} from '../../shared/config/placeholders';
import {canonicalJobTemplate, toJobMessage} from '../../shared/batch/convert';
import {startStack, type Stack} from '../../sandbox/stack';
import {runCli} from '../support/cli';
import {postPubsubCloudEvent, repoRoot} from '../../sandbox/functions';
import {
  decodeWithGoogleProtobuf,
  findGooglePython,
  type GooglePython,
} from '../support/google_protobuf';
import {pushImage} from '../../sandbox/images';
import {
  expectedLeaves,
  jobLeaves,
  leafDifferences,
} from '../support/job_leaves';
import {GUIDE_JOB, RICH_JOB} from '../support/templates';
import {parseSettings} from '../../shared/settings';

const PROJECT = 'pushrun-wire';
const JOBS_SA = `pushrun-jobs@${PROJECT}.iam.gserviceaccount.com`;
const EXAMPLE_DIR = path.join(repoRoot(), 'config');

interface Case {
  readonly name: string;
  readonly mapping: string;
  readonly image: string;
  readonly tag: string;
  readonly region: string;
  readonly streams: boolean;
}

// The example config's three mappings, and two more with the guide's job and the rich one.
const CASES: readonly Case[] = [
  {
    name: "the example's trainer (inline job)",
    mapping: 'trainer',
    image: 'us-central1-docker.pkg.dev/my-project/ml/trainer',
    tag: 'v2.1.0',
    region: 'us-central1',
    streams: true,
  },
  {
    name: "the example's render-frames (jobs/render-frames.json)",
    mapping: 'render-frames',
    image: 'us-docker.pkg.dev/my-project/renderers/blender',
    tag: 'scene-12',
    region: 'us-east1',
    streams: true,
  },
  {
    name: "the example's nightly-report (streaming off, container options)",
    mapping: 'nightly-report',
    image: 'europe-west4-docker.pkg.dev/my-project/tools/report',
    tag: 'nightly',
    region: 'europe-west4',
    streams: false,
  },
  {
    name: "the image-streaming guide's job",
    mapping: 'guide',
    image: 'us-central1-docker.pkg.dev/acme/wire/guide',
    tag: '1.0',
    region: 'us-central1',
    streams: true,
  },
  {
    name: 'a rich template: SPOT, GPUs, disks, gcs/nfs/device volumes, scripts, barrier',
    mapping: 'rich',
    image: 'us-central1-docker.pkg.dev/acme/wire/rich',
    tag: '2.0',
    region: 'us-central1',
    streams: true,
  },
];

/** The example config with the guide and rich mappings added, their jobs in job files. */
function writeConfig(dir: string): string {
  fs.cpSync(path.join(EXAMPLE_DIR, 'jobs'), path.join(dir, 'jobs'), {
    recursive: true,
  });
  fs.writeFileSync(
    path.join(dir, 'jobs', 'guide.json'),
    JSON.stringify(GUIDE_JOB),
  );
  fs.writeFileSync(
    path.join(dir, 'jobs', 'rich.json'),
    JSON.stringify(RICH_JOB),
  );
  const doc = parse(
    fs.readFileSync(path.join(EXAMPLE_DIR, 'pushrun.yaml'), 'utf8'),
  ) as {mappings: Record<string, unknown>[]};
  doc.mappings.push(
    {
      name: 'guide',
      match: {image: 'us-central1-docker.pkg.dev/acme/wire/guide'},
      jobFile: 'jobs/guide.json',
    },
    {
      name: 'rich',
      match: {image: 'us-central1-docker.pkg.dev/acme/wire/rich'},
      streaming: 'auto',
      jobFile: 'jobs/rich.json',
    },
  );
  return stringify(doc);
}

/** A mapping's template as written, read from the config the stack uses. */
function templateOf(configFile: string, mapping: string): unknown {
  const doc = parse(fs.readFileSync(configFile, 'utf8')) as {
    mappings: {name: string; job?: unknown; jobFile?: string}[];
  };
  const m = doc.mappings.find(x => x.name === mapping)!;
  if (m.job) return m.job;
  return JSON.parse(
    fs.readFileSync(path.join(path.dirname(configFile), m.jobFile!), 'utf8'),
  );
}

const requestType = protobuf.Root.fromJSON(
  require('@google-cloud/batch/build/protos/protos.json'),
).lookupType('google.cloud.batch.v1.CreateJobRequest');

describe('CreateJob bytes, decoded with Google protobuf runtime', function () {
  this.timeout(120_000);
  let google: GooglePython;
  let stack: Stack;
  let configDir: string;
  const digests = new Map<string, string>();

  before(async function () {
    const found = findGooglePython();
    if ('missing' in found) {
      console.log(`SKIPPED: CreateJob wire tests: ${found.missing}`);
      this.skip();
    }
    google = found;
    configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushrun-wire-'));
    const started = await startStack({
      project: PROJECT,
      configText: writeConfig(configDir),
      configDir,
      functions: ['onImagePush'],
      keepEmulators: true,
      env: {PUSHRUN_JOB_SERVICE_ACCOUNT: JOBS_SA},
    });
    if ('missing' in started) {
      console.log(`SKIPPED: CreateJob wire tests: ${started.missing}`);
      this.skip();
    }
    stack = started;
    for (const c of CASES) {
      const repo = c.image.split('/').slice(1).join('/');
      const digest = await pushImage(
        stack.registry.baseUrl,
        repo,
        c.tag,
        'clean',
      );
      digests.set(c.mapping, digest);
      const status = await postPubsubCloudEvent(
        stack.functions.onImagePush!.url,
        {
          data: JSON.stringify({
            action: 'INSERT',
            digest: `${c.image}@${digest}`,
            tag: `${c.image}:${c.tag}`,
          }),
        },
      );
      assert.strictEqual(status < 300, true, `${c.name}: status ${status}`);
    }
  });

  after(async () => {
    await stack?.stop();
    if (configDir) fs.rmSync(configDir, {recursive: true, force: true});
  });

  const requestOf = (c: Case) => {
    const jobId = `${c.mapping}-${digests.get(c.mapping)!.slice(7, 19)}`;
    const found = stack.standin.requests.filter(
      r => r.method === 'CreateJob' && r.request.jobId === jobId,
    );
    assert.strictEqual(found.length, 1, `one CreateJob for ${jobId}`);
    return found[0];
  };

  for (const c of CASES) {
    it(`${c.name}: every field arrives, and nothing else`, () => {
      const digest = digests.get(c.mapping)!;
      const pinned = `${c.image}@${digest}`;
      const [decoded] = decodeWithGoogleProtobuf(
        google,
        'google.cloud.batch.v1.CreateJobRequest',
        [requestOf(c).raw],
      ) as {parent: string; jobId: string; job: Record<string, unknown>}[];
      assert.strictEqual(
        decoded.parent,
        `projects/${PROJECT}/locations/${c.region}`,
      );
      assert.strictEqual(decoded.jobId, `${c.mapping}-${digest.slice(7, 19)}`);

      const template = canonicalJobTemplate(
        fillTemplate(templateOf(stack.configFile, c.mapping), {
          IMAGE: pinned,
          IMAGE_DIGEST: digest,
          IMAGE_TAG: c.tag,
          IMAGE_NAME: c.image,
          MAPPING: c.mapping,
        }),
      );
      const want = expectedLeaves(template, {
        pinned,
        mapping: c.mapping,
        digest,
        streams: c.streams,
        eventsTopic: `projects/${PROJECT}/topics/pushrun-batch-events`,
        serviceAccount: JOBS_SA,
      });
      assert.deepStrictEqual(leafDifferences(want, jobLeaves(decoded.job)), []);
    });
  }

  it('pushrun plan prints the request the push sent, byte for byte', async () => {
    for (const c of CASES) {
      const sent = requestOf(c);
      const digest = digests.get(c.mapping)!;
      const r = await runCli(
        ['plan', `${c.image}@${digest}`, '--tag', c.tag, '--json'],
        stack.env,
      );
      assert.strictEqual(r.code, 0, r.err);
      const run = (
        JSON.parse(r.out) as {
          runs: {
            mapping: string;
            request: {
              parent: string;
              jobId: string;
              requestId: string;
              job: Record<string, unknown>;
            };
          }[];
        }
      ).runs.find(x => x.mapping === c.mapping)!;
      const planned = requestType
        .encode(
          requestType.fromObject({
            parent: run.request.parent,
            jobId: run.request.jobId,
            job: toJobMessage(run.request.job),
            requestId: run.request.requestId,
          }),
        )
        .finish();
      assert.strictEqual(
        Buffer.from(planned).toString('base64'),
        sent.raw.toString('base64'),
        c.name,
      );
    }
  });

  it('the stand-in refuses a request that sets two members of one oneof', async () => {
    const {BatchServiceClient} = await import('@google-cloud/batch');
    const {batchClientOptions} = await import('../../shared/batch/client');
    const client = new BatchServiceClient(
      batchClientOptions(parseSettings(stack.env)),
    );
    try {
      // A protobufjs message instance from another root: the client reads its prototype
      // defaults as set fields, which is how instanceTemplate "" reached the wire before.
      const instance = requestType.fromObject({
        job: {allocationPolicy: {instances: [{policy: {machineType: 'e2'}}]}},
      }) as unknown as {job: Record<string, unknown>};
      await assert.rejects(
        client.createJob({
          parent: `projects/${PROJECT}/locations/us-central1`,
          jobId: 'two-members',
          job: instance.job,
        }),
        (e: {code?: number; details?: string}) =>
          e.code === 3 && /policy and instanceTemplate/.test(e.details ?? ''),
      );
    } finally {
      await client.close();
    }
  });
});
