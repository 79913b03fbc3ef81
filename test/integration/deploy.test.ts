/**
 * deploy.sh, run as a child process with the real Google Cloud CLI pointed at a recording
 * stand-in of the Google REST APIs on loopback (test/support/google_rest.ts). deploy.sh runs in
 * a copy of the checkout, so that the source upload, the configs and the jobFiles written for
 * a case are what gcloud zips. A `gcloud` first on PATH records every call (its argv) and hands
 * it to the real gcloud; for usage errors and dry runs it hands on nothing, so any call shows.
 * Config validation runs the real `pushrun config validate` from build/.
 */
import * as assert from 'node:assert';
import {spawn, spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  GoogleRest,
  zipEntryNames,
  type IamPolicy,
  type RecordedRequest,
} from '../support/google_rest';

/** The checkout's root: the nearest directory above this file holding deploy.sh. */
function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'deploy.sh'))) return dir;
    if (path.dirname(dir) === dir)
      throw new Error(`no deploy.sh above ${from}`);
  }
}

const ROOT = findRepoRoot(__dirname);
const PROJECT = 'pushrun-test-proj';
const REGION = 'us-central1';
const PROJECT_NUMBER = '123456789012';
const FUNCTIONS = ['onImagePush', 'onJobStateChange', 'reconcileRuns'] as const;
const email = (name: string) => `${name}@${PROJECT}.iam.gserviceaccount.com`;
const sa = (name: string) => `serviceAccount:${email(name)}`;
const PUBSUB_AGENT = `serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com`;
const OWNER = 'user:owner@example.com';

/** What deploy.sh uploads and runs from: copied, so that a case may write its own files. */
const TREE_FILES = [
  'deploy.sh',
  '.gcloudignore',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'functions',
  'shared',
  'config',
  'bin',
  'scripts',
];

/** One entry of a `mappings:` list: a job running `command`, as `account` when given. */
const mapping = (
  name: string,
  image: string,
  command: string,
  account?: string,
) =>
  `  - name: ${name}
    match: {image: "${image}"}
    job:
      taskGroups: [{taskSpec: {runnables: [{container: {commands: [${command}]}}]}}]
${account ? `      allocationPolicy: {serviceAccount: {email: ${account}}}\n` : ''}`;
const AR = `${REGION}-docker.pkg.dev`;

// Four mappings: three in one repository, two of them with templates that name their own
// accounts (inline and in a jobFile), and one over every repository of the project.
const CONFIG = `notifications:
  topic: test-notifications
  batchEventsTopic: test-batch-events
mappings:
${mapping('trainer', `${AR}/${PROJECT}/ml/trainer`, 'train', email('trainer-jobs'))}\
  - name: render
    match: {image: "${AR}/${PROJECT}/ml/render"}
    jobFile: jobs/render.json
${mapping('tools', `${AR}/${PROJECT}/*/tool`, 'tool')}\
${mapping('report', `${AR}/${PROJECT}/ml/report`, 'report')}`;
const RENDER_JOB = {
  taskGroups: [{taskSpec: {runnables: [{container: {commands: ['render']}}]}}],
  allocationPolicy: {serviceAccount: {email: email('render-jobs')}},
};

// Valid YAML, invalid config: an unknown top-level key, a bad mapping name, no `match`.
const INVALID_CONFIG = `
bogus: true
mappings:
  - name: Not_A_Valid_Name
`;

// The second mapping's match.image is on line 7, its value at column 20.
const OTHER_PROJECT_CONFIG = `mappings:
${mapping('mine', `${AR}/${PROJECT}/ml/mine`, 'x')}\
${mapping('theirs', `${AR}/other-proj/ml/theirs`, 'x')}`;

// The recorder: appends its argv (unit-separated, record-separated) to $GCLOUD_CALLS, then
// hands the call to $REAL_GCLOUD, or fails when there is none.
const RECORDING_GCLOUD = `#!/usr/bin/env bash
record="$(printf '%s\\037' "$@")"
printf '%s\\036' "$record" >>"$GCLOUD_CALLS"
[[ -n "\${REAL_GCLOUD:-}" ]] || { echo "gcloud: not expected here" >&2; exit 1; }
exec "$REAL_GCLOUD" "$@"
`;

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Every gcloud call deploy.sh made, in order, as argv without `gcloud`. */
  readonly calls: string[][];
  /** The stand-in's requests during this run. */
  readonly requests: RecordedRequest[];
  readonly ms: number;
}

let work: string; // temp dir: the tree, the recorder, gcloud's config dirs
let tree: string; // the copy deploy.sh runs in
let realGcloud: string | undefined; // absent: the real-gcloud cases skip
// The real runs start once the tree is ready and go on while the other cases run.
let twice: Promise<Twice> | undefined;
let stopping: Promise<Stopped> | undefined;

/** The real gcloud on PATH, if any. */
function findGcloud(): string | undefined {
  const r = spawnSync('bash', ['-c', 'command -v gcloud'], {encoding: 'utf8'});
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Runs deploy.sh in the tree; with `rest`, gcloud calls reach it through the real gcloud. */
async function deploy(args: string[], rest?: GoogleRest): Promise<Run> {
  const runDir = fs.mkdtempSync(path.join(work, 'run-'));
  const log = path.join(runDir, 'calls');
  const gcloudConfig = path.join(runDir, 'gcloud-config');
  const before = rest?.requests.length ?? 0;
  const started = Date.now();
  const child = spawn('bash', [path.join(tree, 'deploy.sh'), ...args], {
    cwd: tree,
    env: {
      ...process.env,
      PATH: `${path.join(work, 'bin')}${path.delimiter}${process.env.PATH}`,
      GCLOUD_CALLS: log,
      ...(rest && realGcloud
        ? {REAL_GCLOUD: realGcloud, ...rest.gcloudEnv(gcloudConfig)}
        : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', d => (stdout += d));
  child.stderr.on('data', d => (stderr += d));
  const status = await new Promise<number | null>(resolve =>
    child.on('close', code => resolve(code)),
  );
  const calls = fs.existsSync(log)
    ? fs
        .readFileSync(log, 'utf8')
        .split('\x1e')
        .filter(r => r)
        .map(r => r.split('\x1f').slice(0, -1))
    : [];
  return {
    status,
    stdout,
    stderr,
    calls,
    requests: rest?.requests.slice(before) ?? [],
    ms: Date.now() - started,
  };
}

/** A stand-in holding what a project has before pushrun: its owner, repositories, accounts. */
async function standIn(): Promise<GoogleRest> {
  const rest = await GoogleRest.start(PROJECT, PROJECT_NUMBER, {
    bindings: [{role: 'roles/owner', members: [OWNER]}],
  });
  rest.put('secretmanager', `projects/${PROJECT}/secrets/pushrun-webhook`, {});
  rest.put(
    'artifactregistry',
    `projects/${PROJECT}/locations/${REGION}/repositories/ml`,
    {
      format: 'DOCKER',
    },
  );
  for (const name of ['trainer-jobs', 'render-jobs']) {
    rest.put('iam', `projects/${PROJECT}/serviceAccounts/${email(name)}`, {
      email: email(name),
    });
  }
  return rest;
}

/** A policy's bindings as sorted `ROLE MEMBER` lines. */
const bindingLines = (policy: IamPolicy) =>
  (policy.bindings ?? [])
    .flatMap(b => b.members.map(m => `${b.role} ${m}`))
    .sort();

/** Every non-empty IAM policy the stand-in holds, as `API NAME` → its binding lines. */
const policyLines = (rest: GoogleRest) =>
  Object.fromEntries(
    rest
      .allPolicies()
      .map(p => [`${p.api} ${p.name}`, bindingLines(p.policy)] as const)
      .filter(([, lines]) => lines.length),
  );

/** What the real runs are given. */
const REAL_ARGS = [
  '--project',
  PROJECT,
  '--region',
  REGION,
  '--webhook-secret',
  'pushrun-webhook',
];

/** Two real runs against one stand-in, and its IAM policies between them. */
interface Twice {
  readonly rest: GoogleRest;
  readonly first: Run;
  readonly second: Run;
  readonly afterFirst: Record<string, string[]>;
}

/** Runs deploy.sh twice against a stand-in of a project that has some history. */
async function runTwice(): Promise<Twice> {
  const rest = await standIn();
  // An index made earlier without its explicit __name__ (Firestore adds it), and one on
  // another collection, which does not count.
  const index = (group: string, id: string, ...fields: string[]) =>
    rest.put(
      'firestore',
      `projects/${PROJECT}/databases/(default)/collectionGroups/${group}/indexes/${id}`,
      {
        queryScope: 'COLLECTION',
        fields: fields.map(f => {
          const [fieldPath, order] = f.split(':');
          return {fieldPath, order};
        }),
      },
    );
  index(
    'pushrun-runs',
    'earlier',
    'open:ASCENDING',
    'createdAt:ASCENDING',
    '__name__:ASCENDING',
  );
  index(
    'other-runs',
    'other',
    'mapping:ASCENDING',
    'createdAt:DESCENDING',
    '__name__:DESCENDING',
  );
  const first = await deploy(REAL_ARGS, rest);
  const afterFirst = policyLines(rest);
  // Someone opened onImagePush to the world meanwhile: a redeploy closes it again.
  const service = `projects/${PROJECT}/locations/${REGION}/services/onimagepush`;
  const policy = rest.policy('run', service);
  rest.setPolicy('run', service, {
    ...policy,
    bindings: [
      ...(policy.bindings ?? []),
      {role: 'roles/run.invoker', members: ['allUsers']},
    ],
  });
  const second = await deploy(REAL_ARGS, rest);
  return {rest, first, second, afterFirst};
}

/** The runs that stop part-way, each against a stand-in of its own. */
interface Stopped {
  /** Reading the webhook secret is refused. */
  readonly denied: Run;
  /** The webhook secret named does not exist. */
  readonly noSecret: Run;
  /** The config is in a folder .gcloudignore leaves out. */
  readonly notUploaded: Run;
}

/** Runs the cases that stop part-way at once: they are short, and use the other core. */
async function runStoppingCases(): Promise<Stopped> {
  const against = async (
    args: string[],
    prepare?: (rest: GoogleRest) => void,
  ) => {
    const rest = await standIn();
    try {
      prepare?.(rest);
      return await deploy(args, rest);
    } finally {
      await rest.close();
    }
  };
  const [denied, noSecret, notUploaded] = await Promise.all([
    against(REAL_ARGS, rest =>
      rest.deny('secretmanager', `projects/${PROJECT}/secrets/pushrun-webhook`),
    ),
    against([...REAL_ARGS.slice(0, -1), 'no-such-secret']),
    against([...REAL_ARGS, '--config', 'bench/pushrun.yaml']),
  ]);
  return {denied, noSecret, notUploaded};
}

/** Splits one `+ gcloud ...` line as a shell would (plain words and '...' with '\'' escapes). */
function shellWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === ' ') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      assert.ok(end > i, `unbalanced quote in: ${text}`);
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      word = (word ?? '') + text[++i];
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The gcloud commands a run printed, as argv without the leading `gcloud`. */
function printedCommands(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter(l => l.startsWith('+ gcloud '))
    .map(l => shellWords(l.slice(2)).slice(1));
}

const has = (call: string[], ...words: string[]) =>
  words.every(w => call.includes(w));
const flag = (call: string[], name: string) =>
  call.find(a => a.startsWith(`${name}=`))?.slice(name.length + 1);
const firstIndex = (calls: string[][], ...words: string[]) =>
  calls.findIndex(c => has(c, ...words));

/** A request that makes a new resource: a create (POST to a collection, PUT) or a deploy. */
const isCreate = (r: RecordedRequest) =>
  (r.method === 'PUT' && r.api !== 'upload') ||
  (r.method === 'POST' && !r.verb && r.name.split('/').length % 2 === 1);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const bodyOf = (r: RecordedRequest) => (r.body ?? {}) as Record<string, any>;

/** The fields of a Cloud Functions v2 Function that the assertions read
 * (https://cloud.google.com/functions/docs/reference/rest/v2/projects.locations.functions). */
interface FunctionBody {
  readonly buildConfig: {
    readonly runtime: string;
    readonly entryPoint: string;
    readonly source: {readonly storageSource: {readonly object: string}};
  };
  readonly serviceConfig: {
    readonly ingressSettings: string;
    readonly serviceAccountEmail: string;
    readonly environmentVariables: Record<string, string>;
    readonly secretEnvironmentVariables?: unknown;
  };
  readonly eventTrigger: Record<string, unknown> & {
    readonly pubsubTopic: string;
  };
}

/** The run store's composite indexes, as deploy.sh words them. */
const RUN_INDEXES = [
  'mapping:ascending createdAt:descending',
  'image:ascending createdAt:descending',
  'state:ascending createdAt:descending',
  'open:ascending createdAt:descending',
  'open:ascending createdAt:ascending __name__:ascending',
  'mapping:ascending streaming.enabled:ascending createdAt:descending',
];

/** The composite index creations among calls, each as FIELD:ORDER words. */
const indexCreations = (calls: string[][]) =>
  calls
    .filter(c => has(c, 'firestore', 'indexes', 'composite', 'create'))
    .map(c => {
      assert.strictEqual(flag(c, '--collection-group'), 'pushrun-runs');
      assert.strictEqual(flag(c, '--database'), '(default)');
      assert.strictEqual(flag(c, '--project'), PROJECT);
      assert.ok(c.includes('--async'), c.join(' '));
      return c
        .filter(a => a.startsWith('--field-config='))
        .map(a => /field-path=(.*),order=(.*)/.exec(a)!.slice(1).join(':'))
        .join(' ');
    })
    .sort();

/** Fails when any word grants a principal or role deploy.sh must never grant. */
function assertNothingForbidden(words: string[], where: string) {
  for (const w of words) {
    assert.doesNotMatch(w, /allUsers|allAuthenticatedUsers/, `${where}: ${w}`);
    assert.doesNotMatch(w, /roles\/(owner|editor)\b/, `${where}: ${w}`);
    assert.doesNotMatch(w, /^--allow-unauthenticated$/, `${where}: ${w}`);
  }
}

describe('deploy.sh', function () {
  this.timeout(30_000);

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'pushrun-deploy-'));
    fs.mkdirSync(path.join(work, 'bin'));
    fs.writeFileSync(path.join(work, 'bin', 'gcloud'), RECORDING_GCLOUD, {
      mode: 0o755,
    });
    realGcloud = findGcloud();
    tree = path.join(work, 'tree');
    fs.mkdirSync(tree);
    for (const f of TREE_FILES) {
      fs.cpSync(path.join(ROOT, f), path.join(tree, f), {recursive: true});
    }
    // The CLI that validates the config, and the packages it and deploy.sh's scripts load.
    fs.symlinkSync(path.join(ROOT, 'build'), path.join(tree, 'build'));
    fs.symlinkSync(
      path.join(ROOT, 'node_modules'),
      path.join(tree, 'node_modules'),
    );
    const write = (file: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(tree, file)), {recursive: true});
      fs.writeFileSync(path.join(tree, file), text);
    };
    write('config/pushrun.yaml', CONFIG);
    write('../outside.yaml', CONFIG);
    write('config/jobs/render.json', JSON.stringify(RENDER_JOB));
    write('config/invalid.yaml', INVALID_CONFIG);
    write('config/other-project.yaml', OTHER_PROJECT_CONFIG);
    write(
      'config/foreign-topic.yaml',
      'notifications: {batchEventsTopic: projects/other-proj/topics/events}\nmappings: []\n',
    );
    // bench/ is left out of the upload by .gcloudignore.
    write('bench/pushrun.yaml', CONFIG);
    write('bench/jobs/render.json', JSON.stringify(RENDER_JOB));
    if (realGcloud) {
      // Awaited, and so reported, by their own cases.
      twice = runTwice();
      twice.catch(() => {});
      stopping = runStoppingCases();
      stopping.catch(() => {});
    }
  });

  after(async () => {
    const [ran] = await Promise.allSettled([twice, stopping]);
    if (ran.status === 'fulfilled') await ran.value?.rest.close();
    fs.rmSync(work, {recursive: true, force: true});
  });

  it('passes shellcheck', function () {
    const probe = spawnSync('shellcheck', ['--version'], {encoding: 'utf8'});
    if (probe.error) {
      console.log(
        'SKIPPED: shellcheck not installed (apt-get install -y shellcheck)',
      );
      this.skip();
    }
    const r = spawnSync('shellcheck', [path.join(ROOT, 'deploy.sh')], {
      encoding: 'utf8',
    });
    assert.strictEqual(r.status, 0, r.stdout + r.stderr);
  });

  describe('stops before any gcloud call', () => {
    const withConfig = (file: string) => [
      '--project',
      PROJECT,
      '--region',
      REGION,
      '--config',
      file,
    ];
    const cases = [
      {
        name: 'missing --project: usage error',
        args: ['--region', REGION],
        status: 2,
        error: /--project is required/,
      },
      {
        name: 'missing --region: usage error',
        args: ['--project', PROJECT],
        status: 2,
        error: /--region is required/,
      },
      {
        name: 'unknown flag: usage error',
        args: ['--project', PROJECT, '--frobnicate'],
        status: 2,
        error: /unknown/,
      },
      {
        name: 'flag without value: usage error',
        args: ['--region', REGION, '--project'],
        status: 2,
        error: /needs a value/,
      },
      {
        name: 'a config outside the checkout',
        args: withConfig('../outside.yaml'),
        status: 1,
        error: /must be inside/,
      },
      {
        // One FILE:LINE:COL line per problem, from `pushrun config validate`.
        name: 'an invalid config',
        args: withConfig('config/invalid.yaml'),
        status: 1,
        error: /config\/invalid\.yaml:\d+:\d+ .*\n(.|\n)*is not valid/,
      },
      {
        name: "a mapping for another project's images, with the commands that work instead",
        args: withConfig('config/other-project.yaml'),
        status: 1,
        error: new RegExp(
          [
            'config/other-project\\.yaml:7:20 mapping "theirs" matches images of project other-proj',
            "(.|\\n)*topic gcr of the image's own project",
            '(.|\\n)*Nothing was changed',
            `(.|\\n)*\\./deploy\\.sh --project other-proj --region ${REGION} --config config/pushrun-other-proj\\.yaml`,
            `(.|\\n)*gcloud artifacts repositories create REPOSITORY --project=${PROJECT} --location=${REGION} --repository-format=docker`,
          ].join(''),
        ),
      },
      {
        name: 'a Batch events topic in another project',
        args: withConfig('config/foreign-topic.yaml'),
        status: 1,
        error:
          /batchEventsTopic projects\/other-proj\/topics\/events is in project other-proj(.|\n)*Nothing was changed/,
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const r = await deploy(c.args);
        assert.strictEqual(r.status, c.status, r.stderr);
        assert.match(r.stderr, c.error);
        assert.deepStrictEqual(r.calls, []);
      });
    }

    it('--help prints usage and exits 0', async () => {
      const r = await deploy(['--help']);
      assert.strictEqual(r.status, 0);
      assert.match(
        r.stdout,
        /^Usage: deploy\.sh --project PROJECT --region REGION/,
      );
      assert.deepStrictEqual(r.calls, []);
    });
  });

  describe('--dry-run', () => {
    let dryRun: Run;
    let printed: string[][];
    const base = ['--project', PROJECT, '--region', REGION, '--dry-run'];

    before(async () => {
      dryRun = await deploy([...base, '--webhook-secret', 'pushrun-webhook']);
      printed = printedCommands(dryRun.stdout);
    });

    it('runs no gcloud command, not even a describe', () => {
      assert.strictEqual(dryRun.status, 0, dryRun.stderr);
      assert.deepStrictEqual(dryRun.calls, []);
      assert.ok(printed.length > 30, dryRun.stdout);
      assert.ok(
        printed.some(c => has(c, 'describe')),
        'lookups are printed too',
      );
    });

    it('enables every API the system needs, Secret Manager with a webhook secret', () => {
      const enable = printed.find(c => has(c, 'services', 'enable'));
      assert.ok(enable);
      for (const api of [
        'batch',
        'artifactregistry',
        'pubsub',
        'cloudfunctions',
        'run',
        'eventarc',
        'cloudbuild',
        'firestore',
        'cloudscheduler',
        'containerfilesystem',
        'logging',
        'secretmanager',
      ]) {
        assert.ok(enable.includes(`${api}.googleapis.com`), api);
      }
    });

    it('prints every lookup so that it runs as printed: the Eventarc trigger with its project and location', () => {
      for (const fn of FUNCTIONS) {
        const describe = printed.find(
          c =>
            has(c, 'eventarc', 'triggers', 'describe') &&
            c[3] === `EVENTARC_TRIGGER_OF_${fn}`,
        );
        assert.ok(describe, fn);
        assert.strictEqual(flag(describe, '--project'), PROJECT);
        assert.strictEqual(flag(describe, '--location'), REGION);
      }
    });

    it('names the grants it would make, with the reason for a project-wide one', () => {
      assert.match(
        dryRun.stdout,
        /roles\/artifactregistry\.reader project-wide for mapping tools: match\.image \S+\/\*\/tool spans repositories: its repository is a glob/,
      );
      assert.match(
        dryRun.stdout,
        /jobs run as trainer-jobs@\S+ \(a template names it\): like pushrun-jobs, it needs roles\/batch\.agentReporter and roles\/logging\.logWriter on the project/,
      );
      const grants = printed
        .filter(c => has(c, 'add-iam-policy-binding'))
        .map(c => `${c[0]} ${flag(c, '--role')} ${flag(c, '--member')}`);
      assert.ok(
        grants.includes(`pubsub roles/pubsub.publisher ${sa('trainer-jobs')}`),
      );
      assertNothingForbidden(printed.flat(), 'dry run');
    });

    it('shows the live config apply, after the functions deploy', () => {
      const lines = dryRun.stdout.split('\n');
      const apply = lines.findIndex(l =>
        /^\+ node bin\/pushrun config apply \S+\.yaml --yes --message deploy$/.test(
          l,
        ),
      );
      const deploys = lines.flatMap((l, i) =>
        /^\+ gcloud functions deploy /.test(l) ? [i] : [],
      );
      assert.ok(apply > 0, dryRun.stdout);
      assert.ok(deploys.length === 3 && apply > deploys[2]);
    });

    it('without --webhook-secret: no secrets, no Secret Manager', async () => {
      const r = await deploy(base);
      assert.strictEqual(r.status, 0, r.stderr);
      assert.deepStrictEqual(r.calls, []);
      assert.doesNotMatch(r.stdout, /set-secrets|secretmanager|secrets /);
    });

    describe('then for real, twice, against the REST stand-in', function () {
      this.timeout(240_000);
      let rest: GoogleRest;
      let first: Run;
      let second: Run;
      let afterFirst: Record<string, string[]>;

      before(async function () {
        if (!twice) {
          console.log(
            'SKIPPED: gcloud not installed (the Google Cloud CLI runs these cases)',
          );
          this.skip();
        }
        ({rest, first, second, afterFirst} = await twice);
        console.log(
          `      deploy.sh against the stand-in: first run ${first.ms} ms, second ${second.ms} ms`,
        );
      });

      /** What the first run sent to create function `fn`. */
      const created = (fn: string) => {
        const r = first.requests.find(
          r =>
            r.api === 'cloudfunctions' &&
            r.method === 'POST' &&
            r.query.functionId === fn,
        );
        assert.ok(r, `${fn} was created`);
        return r.body as FunctionBody;
      };
      /** The stored function `fn`, its Eventarc trigger, and the trigger's subscription. */
      const deployed = (fn: string) => {
        const f = rest.get(
          'cloudfunctions',
          `projects/${PROJECT}/locations/${REGION}/functions/${fn}`,
        );
        assert.ok(f, fn);
        const {trigger} = f.eventTrigger as {trigger: string};
        const {service} = f.serviceConfig as {service: string};
        const {transport} = rest.get('eventarc', trigger) as {
          transport: {pubsub: {subscription: string}};
        };
        return {trigger, service, subscription: transport.pubsub.subscription};
      };

      it('the first run creates everything, step by step, and exits 0', () => {
        assert.strictEqual(first.status, 0, first.stderr);
        const order = [
          firstIndex(first.calls, 'meta', 'list-files-for-upload'),
          firstIndex(first.calls, 'services', 'enable'),
          firstIndex(first.calls, 'pubsub', 'topics', 'create'),
          firstIndex(first.calls, 'iam', 'service-accounts', 'create'),
          firstIndex(first.calls, 'projects', 'add-iam-policy-binding'),
          firstIndex(first.calls, 'firestore', 'databases', 'create'),
          firstIndex(
            first.calls,
            'firestore',
            'indexes',
            'composite',
            'create',
          ),
          firstIndex(first.calls, 'functions', 'deploy'),
          firstIndex(first.calls, 'scheduler', 'jobs', 'create'),
        ];
        assert.ok(
          order.every(i => i >= 0),
          `missing a step: ${order}`,
        );
        assert.deepStrictEqual(
          order,
          [...order].sort((a, b) => a - b),
        );
        assert.match(first.stdout, /topic gcr: created/);
        assert.deepStrictEqual(
          first.requests.filter(r => r.api === 'CONNECT' || r.status >= 500),
          [],
          'every call stayed on the stand-in and was understood',
        );
      });

      it('makes exactly the calls the dry run printed', () => {
        const last = (name: string) => name.split('/').pop()!;
        const real = (word: string) =>
          word
            .replace('PROJECT_NUMBER', PROJECT_NUMBER)
            .replace(/^EVENTARC_TRIGGER_OF_(\w+)$/, (_, f: string) =>
              last(deployed(f).trigger),
            )
            .replace(/^RUN_SERVICE_OF_(\w+)$/, (_, f: string) =>
              last(deployed(f).service),
            )
            .replace(
              /^EVENTARC_SUBSCRIPTION_OF_(\w+)$/,
              (_, f: string) => deployed(f).subscription,
            );
        const key = (c: string[]) => JSON.stringify(c);
        // The dry run knows of no index, the stand-in had listOpen's.
        const seeded = (c: string[]) =>
          has(c, 'indexes', 'composite', 'create') &&
          c.includes('--field-config=field-path=__name__,order=ascending');
        const expected = printed.filter(c => !seeded(c)).map(c => c.map(real));
        // Resources are granted and functions deployed side by side: compare in any order.
        assert.strictEqual(first.status, 0, first.stderr);
        assert.deepStrictEqual(
          first.calls.map(key).sort(),
          expected.map(key).sort(),
        );
      });

      it('deploys each function gen2 on nodejs22, retried, internal, authenticated, on its topic', () => {
        const topics = {
          onImagePush: 'gcr',
          onJobStateChange: 'test-batch-events',
          reconcileRuns: 'pushrun-reconcile',
        };
        const runtimeSa = {
          onImagePush: 'pushrun-launcher',
          onJobStateChange: 'pushrun-recorder',
          reconcileRuns: 'pushrun-recorder',
        };
        for (const fn of FUNCTIONS) {
          const body = created(fn);
          assert.strictEqual(body.buildConfig.runtime, 'nodejs22', fn);
          assert.strictEqual(body.buildConfig.entryPoint, fn);
          assert.deepStrictEqual(
            {...body.eventTrigger, triggerRegion: undefined},
            {
              eventType: 'google.cloud.pubsub.topic.v1.messagePublished',
              pubsubTopic: `projects/${PROJECT}/topics/${topics[fn]}`,
              retryPolicy: 'RETRY_POLICY_RETRY',
              serviceAccountEmail: email('pushrun-invoker'),
              triggerRegion: undefined,
            },
            fn,
          );
          assert.strictEqual(
            body.serviceConfig.ingressSettings,
            'ALLOW_INTERNAL_ONLY',
            fn,
          );
          assert.strictEqual(
            body.serviceConfig.serviceAccountEmail,
            email(runtimeSa[fn]),
          );
          const env = body.serviceConfig.environmentVariables;
          assert.strictEqual(env.GOOGLE_CLOUD_PROJECT, PROJECT);
          assert.strictEqual(env.PUSHRUN_CONFIG, 'config/pushrun.yaml');
          assert.strictEqual(
            env.PUSHRUN_JOB_SERVICE_ACCOUNT,
            fn === 'onImagePush' ? email('pushrun-jobs') : undefined,
          );
          assert.ok(
            !Object.keys(env).some(k => /WEBHOOK/.test(k)),
            'the webhook URL is never a plain variable',
          );
        }
      });

      it('gives every function the webhook secret: all three notify', () => {
        for (const fn of FUNCTIONS) {
          assert.deepStrictEqual(
            created(fn).serviceConfig.secretEnvironmentVariables,
            [
              {
                key: 'PUSHRUN_WEBHOOK_URL',
                projectId: PROJECT_NUMBER,
                secret: 'pushrun-webhook',
                version: 'latest',
              },
            ],
            fn,
          );
        }
      });

      it('uploads the sources with the config and its jobFile, without build/, node_modules/ or tests', () => {
        assert.strictEqual(first.status, 0, first.stderr);
        for (const fn of FUNCTIONS) {
          const {object} = created(fn).buildConfig.source.storageSource;
          const zip = rest.uploads.get(object);
          assert.ok(zip, `uploaded ${object}`);
          const files = zipEntryNames(zip).filter(n => !n.endsWith('/'));
          for (const f of [
            'package.json',
            'package-lock.json',
            'functions/index.ts',
            'config/pushrun.yaml',
            'config/jobs/render.json',
            'scripts/compile-schema.js',
          ]) {
            assert.ok(files.includes(f), `${f} in ${object}`);
          }
          assert.deepStrictEqual(
            files.filter(
              f =>
                (/^(build|node_modules|test|bench|sandbox|scripts)\//.test(f) &&
                  f !== 'scripts/compile-schema.js') ||
                f === 'deploy.sh',
            ),
            [],
          );
        }
      });

      it('binds exactly these roles, each on the one resource that needs it', () => {
        const repo = (location: string, name: string) =>
          `artifactregistry projects/${PROJECT}/locations/${location}/repositories/${name}`;
        const account = (name: string) =>
          `iam projects/${PROJECT}/serviceAccounts/${email(name)}`;
        const topic = (name: string) =>
          `pubsub projects/${PROJECT}/topics/${name}`;
        const expected: Record<string, string[]> = {
          [`cloudresourcemanager projects/${PROJECT}`]: [
            `roles/artifactregistry.reader ${sa('pushrun-jobs')}`, // tools spans repositories
            `roles/artifactregistry.reader ${sa('pushrun-launcher')}`,
            `roles/batch.agentReporter ${sa('pushrun-jobs')}`,
            `roles/batch.jobsEditor ${sa('pushrun-launcher')}`,
            `roles/batch.jobsViewer ${sa('pushrun-recorder')}`,
            `roles/datastore.user ${sa('pushrun-launcher')}`,
            `roles/datastore.user ${sa('pushrun-recorder')}`,
            `roles/logging.logWriter ${sa('pushrun-jobs')}`,
            `roles/owner ${OWNER}`, // kept as it was
          ],
          [repo('us-central1', 'ml')]: [
            `roles/artifactregistry.reader ${sa('pushrun-jobs')}`, // report
            `roles/artifactregistry.reader ${sa('pushrun-launcher')}`,
            `roles/artifactregistry.reader ${sa('render-jobs')}`,
            `roles/artifactregistry.reader ${sa('trainer-jobs')}`,
          ],
          [account('pushrun-jobs')]: [
            `roles/iam.serviceAccountUser ${sa('pushrun-launcher')}`,
          ],
          [account('trainer-jobs')]: [
            `roles/iam.serviceAccountUser ${sa('pushrun-launcher')}`,
          ],
          [account('render-jobs')]: [
            `roles/iam.serviceAccountUser ${sa('pushrun-launcher')}`,
          ],
          [account('pushrun-invoker')]: [
            `roles/iam.serviceAccountTokenCreator ${PUBSUB_AGENT}`,
          ],
          [topic('test-batch-events')]: [
            `roles/pubsub.publisher ${sa('pushrun-jobs')}`,
            `roles/pubsub.publisher ${sa('render-jobs')}`,
            `roles/pubsub.publisher ${sa('trainer-jobs')}`,
          ],
          [topic('test-notifications')]: [
            `roles/pubsub.publisher ${sa('pushrun-launcher')}`,
            `roles/pubsub.publisher ${sa('pushrun-recorder')}`,
          ],
          [topic('pushrun-dead-letter')]: [
            `roles/pubsub.publisher ${PUBSUB_AGENT}`,
          ],
          [`secretmanager projects/${PROJECT}/secrets/pushrun-webhook`]: [
            `roles/secretmanager.secretAccessor ${sa('pushrun-launcher')}`,
            `roles/secretmanager.secretAccessor ${sa('pushrun-recorder')}`,
          ],
        };
        for (const fn of FUNCTIONS) {
          expected[
            `run projects/${PROJECT}/locations/${REGION}/services/${fn.toLowerCase()}`
          ] = [`roles/run.invoker ${sa('pushrun-invoker')}`];
          expected[`pubsub ${deployed(fn).subscription}`] = [
            `roles/pubsub.subscriber ${PUBSUB_AGENT}`,
          ];
        }
        assert.deepStrictEqual(afterFirst, expected);
        assert.deepStrictEqual(
          policyLines(rest),
          expected,
          'the same after the second run',
        );
      });

      it('grants no public principal, owner or editor, and sends no public member at all', () => {
        const sets = [...first.requests, ...second.requests].filter(
          r => r.verb === 'setIamPolicy',
        );
        assert.ok(sets.length > 0);
        for (const r of sets) {
          const added = bindingLines(bodyOf(r).policy).filter(
            l => l !== `roles/owner ${OWNER}`,
          );
          assertNothingForbidden(added, `${r.api} ${r.name}`);
        }
        for (const call of [...first.calls, ...second.calls]) {
          assertNothingForbidden(call, call.join(' '));
        }
      });

      it('grants no logging.logWriter to the functions: they log to stdout', () => {
        for (const p of rest.allPolicies()) {
          for (const line of bindingLines(p.policy)) {
            assert.ok(
              !line.startsWith('roles/logging.logWriter ') ||
                line.endsWith(sa('pushrun-jobs')),
              `${p.name}: ${line}`,
            );
          }
        }
      });

      it('dead-letters each trigger subscription: 15 attempts, then pushrun-dead-letter', () => {
        for (const fn of FUNCTIONS) {
          const sub = rest.get('pubsub', deployed(fn).subscription)!;
          assert.deepStrictEqual(
            sub.deadLetterPolicy,
            {
              deadLetterTopic: `projects/${PROJECT}/topics/pushrun-dead-letter`,
              maxDeliveryAttempts: 15,
            },
            fn,
          );
          assert.strictEqual(sub.topic, created(fn).eventTrigger.pubsubTopic);
        }
        const home = rest.get(
          'pubsub',
          `projects/${PROJECT}/subscriptions/pushrun-dead-letter`,
        );
        assert.strictEqual(
          home?.topic,
          `projects/${PROJECT}/topics/pushrun-dead-letter`,
        );
        assert.strictEqual(home?.messageRetentionDuration, '604800s');
      });

      it('creates the Firestore database, only the missing indexes, and the scheduler job', () => {
        const db = first.requests.find(
          r => r.api === 'firestore' && r.query.databaseId === '(default)',
        );
        assert.deepStrictEqual(
          {type: bodyOf(db!).type, locationId: bodyOf(db!).locationId},
          {type: 'FIRESTORE_NATIVE', locationId: REGION},
        );
        assert.deepStrictEqual(
          indexCreations(first.calls),
          RUN_INDEXES.filter(
            i => !i.startsWith('open:ascending createdAt:asc'),
          ).sort(),
        );
        assert.match(
          first.stdout,
          /index pushrun-runs \(open:ascending createdAt:ascending __name__:ascending\): exists/,
        );
        const job = rest.get(
          'cloudscheduler',
          `projects/${PROJECT}/locations/${REGION}/jobs/pushrun-reconcile`,
        );
        assert.strictEqual(job?.schedule, '*/10 * * * *');
        assert.deepStrictEqual(job?.pubsubTarget, {
          topicName: `projects/${PROJECT}/topics/pushrun-reconcile`,
          data: Buffer.from('{}').toString('base64'),
        });
      });

      it('a second run creates nothing, grants nothing, and exits 0', () => {
        assert.strictEqual(second.status, 0, second.stderr);
        assert.ok(
          first.requests.filter(isCreate).length >= 19,
          'the first run did create',
        );
        assert.deepStrictEqual(second.requests.filter(isCreate), []);
        // The one policy write: `functions deploy --no-allow-unauthenticated` on an existing
        // function always sets its Cloud Run service's policy, without allUsers (gcloud's
        // command_lib/functions/v2/deploy/command.py), and the grants read and add nothing.
        assert.deepStrictEqual(
          second.requests
            .filter(r => r.verb === 'setIamPolicy')
            .map(r => `${r.api} ${r.name.split('/').pop()}`)
            .sort(),
          ['run onimagepush', 'run onjobstatechange', 'run reconcileruns'],
        );
        assert.deepStrictEqual(
          second.calls.filter(c => has(c, 'add-iam-policy-binding')),
          [],
        );
        assert.deepStrictEqual(indexCreations(second.calls), []);
        // What a second run does change: the functions (redeployed, the same), the
        // dead-letter policies, the scheduler job.
        const updates = second.requests
          .filter(r => r.method === 'PATCH')
          .map(r => `${r.api} ${r.name.split('/').slice(-2, -1)}`)
          .sort();
        assert.deepStrictEqual(updates, [
          'cloudfunctions functions',
          'cloudfunctions functions',
          'cloudfunctions functions',
          'cloudscheduler jobs',
          'pubsub subscriptions',
          'pubsub subscriptions',
          'pubsub subscriptions',
        ]);
        assert.match(second.stdout, /topic gcr: exists/);
        assert.match(
          second.stdout,
          /index pushrun-runs \(mapping:ascending createdAt:descending\): exists/,
        );
      });
    });
  });

  describe('stops with what is wrong, before creating anything, against the REST stand-in', () => {
    let r: Stopped;

    before(async function () {
      if (!stopping) {
        console.log(
          'SKIPPED: gcloud not installed (the Google Cloud CLI runs these cases)',
        );
        this.skip();
      }
      r = await stopping;
    });

    it('a lookup that fails for another reason than NOT_FOUND', () => {
      assert.strictEqual(r.denied.status, 1);
      assert.match(r.denied.stderr, /PERMISSION_DENIED/);
      assert.match(
        r.denied.stderr,
        /could not tell whether this exists: gcloud secrets describe pushrun-webhook/,
      );
      assert.deepStrictEqual(r.denied.requests.filter(isCreate), []);
    });

    it('a webhook secret that does not exist', () => {
      assert.strictEqual(r.noSecret.status, 1);
      assert.match(
        r.noSecret.stderr,
        /secret no-such-secret not found; create it first/,
      );
      assert.ok(r.noSecret.requests.some(x => x.api === 'secretmanager'));
      assert.deepStrictEqual(r.noSecret.requests.filter(isCreate), []);
    });

    it('a config that .gcloudignore leaves out of the upload', () => {
      assert.strictEqual(r.notUploaded.status, 1);
      assert.match(
        r.notUploaded.stderr,
        /bench\/pushrun\.yaml would not be uploaded with the functions/,
      );
      assert.ok(
        r.notUploaded.calls.some(c => has(c, 'meta', 'list-files-for-upload')),
      );
      assert.deepStrictEqual(r.notUploaded.requests, []);
    });
  });
});
