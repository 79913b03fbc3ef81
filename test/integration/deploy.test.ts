/**
 * deploy.sh, run as a child process against a stand-in `gcloud` first on PATH. The stand-in
 * records every call (one JSON array of argv per line) and answers like gcloud from a state
 * file: a describe is NOT_FOUND until a create or deploy of the same resource. Config
 * validation runs the real `pushrun config validate` from build/.
 */
import {TRAINER_MAPPING} from '../unit/config/fixtures';
import * as assert from 'node:assert';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The checkout's root: the nearest directory above this file holding deploy.sh. */
function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'deploy.sh'))) return dir;
    if (path.dirname(dir) === dir)
      throw new Error(`no deploy.sh above ${from}`);
  }
}

const ROOT = findRepoRoot(__dirname);
const DEPLOY = path.join(ROOT, 'deploy.sh');
const PROJECT = 'pushrun-test-proj';
const REGION = 'us-central1';
const PROJECT_NUMBER = '123456789012';
const FUNCTIONS = ['onImagePush', 'onJobStateChange', 'reconcileRuns'] as const;
const sa = (name: string) =>
  `serviceAccount:${name}@${PROJECT}.iam.gserviceaccount.com`;

// The stand-in gcloud. The resource key of a call is its command group plus the first
// positional argument after the verb (a `pubsub` job type skipped, an email cut at `@`); a
// composite index is keyed by its collection group and field configs, and `indexes composite
// list` answers JSON built from the state, with the implicit trailing __name__ Firestore adds.
// Bash's ${...} is written $\{...} so that the template literal leaves it alone.
const FAKE_GCLOUD = String.raw`#!/usr/bin/env bash
set -u
json() { local s=$1; s=$\{s//\\/\\\\}; s=$\{s//\"/\\\"}; printf '"%s"' "$s"; }
line='['; sep=''
for a in "$@"; do line+="$sep$(json "$a")"; sep=','; done
printf '%s]\n' "$line" >>"$FAKE_GCLOUD_LOG"
touch "$FAKE_GCLOUD_STATE"
words=(); format=''; group_flag=''; field_configs=()
for a in "$@"; do
  case "$a" in
    --format=*) format=$\{a#--format=} ;;
    --collection-group=*) group_flag=$\{a#--collection-group=} ;;
    --field-config=*) field_configs+=("$\{a#--field-config=}") ;;
    --database=*) words+=("$\{a#--database=}") ;;
    -*) ;;
    *) words+=("$a") ;;
  esac
done
verb=''; group=''; name=''
for i in "$\{!words[@]}"; do
  case "$\{words[$i]}" in
    describe | create | deploy | update | enable | get-value | list | add-iam-policy-binding | \
      add-invoker-policy-binding)
      verb=$\{words[$i]}
      group="$\{words[*]:0:$i}"
      name=$\{words[$((i + 1))]:-}
      [[ "$name" == pubsub ]] && name=$\{words[$((i + 2))]:-}
      break ;;
  esac
done
name=$\{name%%@*}
if [[ "$group" == 'firestore indexes composite' ]]; then
  name="$group_flag|$(IFS=';'; echo "$\{field_configs[*]}")"
fi
key="$group/$name"
known() { grep -qxF "$key" "$FAKE_GCLOUD_STATE"; }
case "$group/$verb" in
  projects/describe) echo "$FAKE_PROJECT_NUMBER"; exit 0 ;;
  config/get-value) echo "$FAKE_PROJECT"; exit 0 ;;
  'beta services identity/create') echo 'Service identity created'; exit 0 ;;
  'firestore indexes composite/list')
    out='['; sep=''; n=0
    while IFS= read -r entry; do
      [[ "$entry" == 'firestore indexes composite/'* ]] || continue
      entry=$\{entry#firestore indexes composite/}
      n=$((n + 1))
      item="{\"name\":\"projects/$FAKE_PROJECT/databases/(default)/collectionGroups/$\{entry%%|*}/indexes/CICAgOi$n\","
      item+="\"queryScope\":\"COLLECTION\",\"state\":\"CREATING\",\"fields\":["
      fsep=''; fp=''; order=''
      IFS=';' read -ra fcs <<<"$\{entry#*|}"
      for fc in "$\{fcs[@]}"; do
        fp=$\{fc#field-path=}; fp=$\{fp%%,*}
        order=$\{fc##*order=}; order=$\{order^^}
        item+="$fsep{\"fieldPath\":\"$fp\",\"order\":\"$order\"}"; fsep=','
      done
      [[ "$fp" == __name__ ]] || item+=",{\"fieldPath\":\"__name__\",\"order\":\"$order\"}"
      out+="$sep$item]}"; sep=','
    done <"$FAKE_GCLOUD_STATE"
    echo "$out]"; exit 0 ;;
  'eventarc triggers/describe')
    echo "projects/$FAKE_PROJECT/subscriptions/eventarc-$\{name##*/}-sub"; exit 0 ;;
esac
case "$verb" in
  describe)
    if [[ -n "$\{FAKE_GCLOUD_DENY:-}" ]]; then
      echo "ERROR: (gcloud) PERMISSION_DENIED: Permission denied on resource (or it may not exist)." >&2
      exit 1
    fi
    if known; then
      if [[ "$format" == *eventTrigger.trigger* ]]; then
        echo "projects/$FAKE_PROJECT/locations/$FAKE_REGION/triggers/$\{name,,}-123456"
      else
        echo "name: $name"
      fi
      exit 0
    fi
    echo "ERROR: (gcloud.$\{group// /.}.describe) NOT_FOUND: Resource not found (resource=$name)." >&2
    exit 1 ;;
  create)
    if known; then
      echo "ERROR: (gcloud.$\{group// /.}.create) ALREADY_EXISTS: Resource already exists (resource=$name)." >&2
      exit 1
    fi
    echo "$key" >>"$FAKE_GCLOUD_STATE"
    echo "Created [$name]." >&2 ;;
  deploy)
    known || echo "$key" >>"$FAKE_GCLOUD_STATE"
    echo "Deployed [$name]." >&2 ;;
esac
exit 0
`
  .split('$\\{')
  .join('${');

const VALID_CONFIG = `
notifications:
  topic: test-notifications
  batchEventsTopic: test-batch-events
mappings:
${TRAINER_MAPPING}`;

// Valid YAML, invalid config: an unknown top-level key, a bad mapping name, no `match`.
const INVALID_CONFIG = `
bogus: true
mappings:
  - name: Not_A_Valid_Name
`;

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Every gcloud call the stand-in received, in order. */
  readonly calls: string[][];
}

let work: string; // temp dir: the stand-in, its log and state
let configDir: string; // inside the checkout (deploy.sh requires it), under the ignored build/
let validConfig: string;
let invalidConfig: string;
let dryRun: Run; // --dry-run --webhook-secret pushrun-webhook, shared by the real-run checks

function deploy(args: string[], state = 'state', extraEnv = {}): Run {
  const log = path.join(work, 'calls.jsonl');
  fs.rmSync(log, {force: true});
  const r = spawnSync('bash', [DEPLOY, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
    env: {
      ...process.env,
      PATH: `${path.join(work, 'bin')}${path.delimiter}${process.env.PATH}`,
      FAKE_GCLOUD_LOG: log,
      FAKE_GCLOUD_STATE: path.join(work, state),
      FAKE_PROJECT: PROJECT,
      FAKE_REGION: REGION,
      FAKE_PROJECT_NUMBER: PROJECT_NUMBER,
      ...extraEnv,
    },
  });
  const calls = fs.existsSync(log)
    ? fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .filter(l => l)
        .map(l => JSON.parse(l) as string[])
    : [];
  return {status: r.status, stdout: r.stdout, stderr: r.stderr, calls};
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

/** The gcloud commands a dry run printed, as argv without the leading `gcloud`. */
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
/** A call that makes a new resource (`services identity create` only reads back the agent). */
const isCreate = (call: string[]) =>
  call.includes('create') && !has(call, 'services', 'identity');

/** The run store's composite indexes, each as its --field-config values in order. */
const RUN_INDEXES = [
  ['mapping', 'ascending', 'createdAt', 'descending'],
  ['image', 'ascending', 'createdAt', 'descending'],
  ['state', 'ascending', 'createdAt', 'descending'],
  ['open', 'ascending', 'createdAt', 'descending'],
  ['open', 'ascending', 'createdAt', 'ascending', '__name__', 'ascending'],
].map(f =>
  f
    .filter((_, i) => i % 2 === 0)
    .map((field, i) => `field-path=${field},order=${f[2 * i + 1]}`),
);

/** The composite index creations among calls, each as its --field-config values. */
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
        .map(a => a.slice('--field-config='.length));
    });

/** Fails when any argument grants a principal or role deploy.sh must never grant. */
function assertNothingForbidden(words: string[], where: string) {
  for (const w of words) {
    assert.doesNotMatch(w, /allUsers|allAuthenticatedUsers/, `${where}: ${w}`);
    assert.doesNotMatch(w, /roles\/(owner|editor)\b/, `${where}: ${w}`);
    assert.doesNotMatch(w, /^--allow-unauthenticated$/, `${where}: ${w}`);
  }
}

describe('deploy.sh', function () {
  this.timeout(20_000);

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'pushrun-deploy-'));
    fs.mkdirSync(path.join(work, 'bin'));
    fs.writeFileSync(path.join(work, 'bin', 'gcloud'), FAKE_GCLOUD, {
      mode: 0o755,
    });
    fs.mkdirSync(path.join(ROOT, 'build'), {recursive: true});
    configDir = fs.mkdtempSync(path.join(ROOT, 'build', 'deploy-test-'));
    validConfig = path.join(configDir, 'pushrun.yaml');
    invalidConfig = path.join(configDir, 'invalid.yaml');
    fs.writeFileSync(validConfig, VALID_CONFIG);
    fs.writeFileSync(invalidConfig, INVALID_CONFIG);
  });

  after(() => {
    fs.rmSync(work, {recursive: true, force: true});
    fs.rmSync(configDir, {recursive: true, force: true});
  });

  it('passes shellcheck', function () {
    const probe = spawnSync('shellcheck', ['--version'], {encoding: 'utf8'});
    if (probe.error) {
      console.log(
        'SKIPPED: shellcheck not installed (apt-get install -y shellcheck)',
      );
      this.skip();
    }
    const r = spawnSync('shellcheck', [DEPLOY], {encoding: 'utf8'});
    assert.strictEqual(r.status, 0, r.stdout + r.stderr);
  });

  describe('usage', () => {
    const cases = [
      {
        name: 'missing --project',
        args: ['--region', REGION],
        error: /--project is required/,
      },
      {
        name: 'missing --region',
        args: ['--project', PROJECT],
        error: /--region is required/,
      },
      {
        name: 'unknown flag',
        args: ['--project', PROJECT, '--frobnicate'],
        error: /unknown/,
      },
      {
        name: 'flag without value',
        args: ['--region', REGION, '--project'],
        error: /needs a value/,
      },
    ];
    for (const c of cases) {
      it(`${c.name}: usage error, no gcloud call`, () => {
        const r = deploy(c.args);
        assert.strictEqual(r.status, 2, r.stderr);
        assert.match(r.stderr, c.error);
        assert.deepStrictEqual(r.calls, []);
      });
    }

    it('--help prints usage and exits 0', () => {
      const r = deploy(['--help']);
      assert.strictEqual(r.status, 0);
      assert.match(
        r.stdout,
        /^Usage: deploy\.sh --project PROJECT --region REGION/,
      );
      assert.deepStrictEqual(r.calls, []);
    });

    it('refuses a config outside the checkout before any gcloud call', () => {
      const outside = path.join(work, 'outside.yaml');
      fs.writeFileSync(outside, VALID_CONFIG);
      const r = deploy([
        '--project',
        PROJECT,
        '--region',
        REGION,
        '--config',
        outside,
      ]);
      assert.strictEqual(r.status, 1);
      assert.match(r.stderr, /must be inside/);
      assert.deepStrictEqual(r.calls, []);
    });
  });

  it('an invalid config exits non-zero before any gcloud call', () => {
    const r = deploy([
      '--project',
      PROJECT,
      '--region',
      REGION,
      '--config',
      invalidConfig,
    ]);
    assert.notStrictEqual(r.status, 0);
    // One FILE:LINE:COL line per problem, from `pushrun config validate`.
    assert.match(r.stderr, /invalid\.yaml:\d+:\d+/);
    assert.deepStrictEqual(r.calls, []);
  });

  describe('--dry-run', () => {
    let printed: string[][];
    const base = () => [
      '--project',
      PROJECT,
      '--region',
      REGION,
      '--config',
      validConfig,
      '--dry-run',
    ];

    before(() => {
      dryRun = deploy([...base(), '--webhook-secret', 'pushrun-webhook']);
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

    it('creates every topic, the config topics by their configured names', () => {
      const created = printed
        .filter(c => has(c, 'pubsub', 'topics', 'create'))
        .map(c => c[3]);
      assert.deepStrictEqual(created.sort(), [
        'gcr',
        'pushrun-dead-letter',
        'pushrun-reconcile',
        'test-batch-events',
        'test-notifications',
      ]);
    });

    it('deploys each function gen2, retried, internal, authenticated, on its topic', () => {
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
        const d = printed.find(c => has(c, 'functions', 'deploy', fn));
        assert.ok(d, fn);
        for (const f of ['--gen2', '--retry', '--no-allow-unauthenticated']) {
          assert.ok(d.includes(f), `${fn} ${f}`);
        }
        assert.strictEqual(flag(d, '--ingress-settings'), 'internal-only');
        assert.strictEqual(flag(d, '--runtime'), 'nodejs20');
        assert.strictEqual(flag(d, '--entry-point'), fn);
        assert.strictEqual(flag(d, '--region'), REGION);
        assert.strictEqual(flag(d, '--trigger-topic'), topics[fn]);
        assert.strictEqual(
          flag(d, '--service-account'),
          sa(runtimeSa[fn]).split(':')[1],
        );
        assert.strictEqual(
          flag(d, '--trigger-service-account'),
          sa('pushrun-invoker').split(':')[1],
        );
        const env = flag(d, '--set-env-vars') ?? '';
        assert.match(env, new RegExp(`GOOGLE_CLOUD_PROJECT=${PROJECT}`));
        assert.match(
          env,
          /PUSHRUN_CONFIG=build\/deploy-test-[^,]+\/pushrun\.yaml/,
        );
        assert.doesNotMatch(
          env,
          /WEBHOOK/,
          'the webhook URL is never a plain variable',
        );
        const secrets = flag(d, '--set-secrets');
        if (fn === 'onImagePush') assert.strictEqual(secrets, undefined);
        else
          assert.strictEqual(
            secrets,
            'PUSHRUN_WEBHOOK_URL=pushrun-webhook:latest',
          );
        const invoker = printed.find(c =>
          has(c, 'functions', 'add-invoker-policy-binding', fn),
        );
        assert.strictEqual(
          flag(invoker ?? [], '--member'),
          sa('pushrun-invoker'),
        );
      }
    });

    it('grants only the least-privilege project roles', () => {
      const grants = printed
        .filter(c => has(c, 'projects', 'add-iam-policy-binding'))
        .map(c => `${flag(c, '--member')} ${flag(c, '--role')}`);
      assert.deepStrictEqual(grants.sort(), [
        `${sa('pushrun-jobs')} roles/artifactregistry.reader`,
        `${sa('pushrun-jobs')} roles/batch.agentReporter`,
        `${sa('pushrun-jobs')} roles/logging.logWriter`,
        `${sa('pushrun-launcher')} roles/artifactregistry.reader`,
        `${sa('pushrun-launcher')} roles/batch.jobsEditor`,
        `${sa('pushrun-launcher')} roles/datastore.user`,
        `${sa('pushrun-launcher')} roles/logging.logWriter`,
        `${sa('pushrun-recorder')} roles/batch.jobsViewer`,
        `${sa('pushrun-recorder')} roles/datastore.user`,
        `${sa('pushrun-recorder')} roles/logging.logWriter`,
      ]);
    });

    it('binds the narrow roles on the one resource that needs them', () => {
      const agent = (name: string) =>
        `serviceAccount:service-PROJECT_NUMBER@gcp-sa-${name}.iam.gserviceaccount.com`;
      const email = (name: string) => sa(name).split(':')[1];
      // Where each (member, role) pair is bound: `group target`, e.g. `pubsub topics gcr`.
      const cases = [
        {
          member: sa('pushrun-launcher'),
          role: 'roles/iam.serviceAccountUser',
          on: [`iam service-accounts ${email('pushrun-jobs')}`],
        },
        {
          member: sa('pushrun-launcher'),
          role: 'roles/pubsub.publisher',
          on: ['pubsub topics test-notifications'],
        },
        {
          member: sa('pushrun-recorder'),
          role: 'roles/pubsub.publisher',
          on: ['pubsub topics test-notifications'],
        },
        {
          member: sa('pushrun-recorder'),
          role: 'roles/secretmanager.secretAccessor',
          on: ['secrets pushrun-webhook'],
        },
        {
          member: agent('cloudbatch'),
          role: 'roles/pubsub.publisher',
          on: ['pubsub topics test-batch-events'],
        },
        {
          member: agent('pubsub'),
          role: 'roles/iam.serviceAccountTokenCreator',
          on: [`iam service-accounts ${email('pushrun-invoker')}`],
        },
        {
          member: agent('pubsub'),
          role: 'roles/pubsub.publisher',
          on: ['pubsub topics pushrun-dead-letter'],
        },
        {
          member: agent('pubsub'),
          role: 'roles/pubsub.subscriber',
          on: FUNCTIONS.map(
            fn => `pubsub subscriptions EVENTARC_SUBSCRIPTION_OF_${fn}`,
          ),
        },
      ];
      for (const c of cases) {
        const where = printed
          .filter(
            call =>
              flag(call, '--member') === c.member &&
              flag(call, '--role') === c.role,
          )
          .map(call => {
            const verb = call.indexOf('add-iam-policy-binding');
            return [...call.slice(0, verb), call[verb + 1]].join(' ');
          });
        assert.deepStrictEqual(where, c.on, `${c.member} ${c.role}`);
      }
    });

    it('dead-letters each trigger subscription', () => {
      for (const fn of FUNCTIONS) {
        const update = printed.find(
          c =>
            has(c, 'pubsub', 'subscriptions', 'update') &&
            c[3] === `EVENTARC_SUBSCRIPTION_OF_${fn}`,
        );
        assert.ok(update, fn);
        assert.strictEqual(
          flag(update, '--dead-letter-topic'),
          'pushrun-dead-letter',
        );
      }
    });

    it('creates the Firestore database and the scheduler job', () => {
      const db = printed.find(c => has(c, 'firestore', 'databases', 'create'));
      assert.ok(db);
      assert.strictEqual(flag(db, '--type'), 'firestore-native');
      assert.strictEqual(flag(db, '--location'), REGION);
      const job = printed.find(c =>
        has(c, 'scheduler', 'jobs', 'create', 'pubsub', 'pushrun-reconcile'),
      );
      assert.ok(job);
      assert.strictEqual(flag(job, '--schedule'), '*/10 * * * *');
      assert.strictEqual(flag(job, '--topic'), 'pushrun-reconcile');
    });

    it('creates the run store composite indexes right after the database', () => {
      assert.deepStrictEqual(indexCreations(printed), RUN_INDEXES);
      const db = printed.findIndex(c =>
        has(c, 'firestore', 'databases', 'create'),
      );
      const list = printed.findIndex(c =>
        has(c, 'firestore', 'indexes', 'composite', 'list'),
      );
      assert.ok(
        db >= 0 && list === db + 1,
        'the index list follows the database',
      );
      assert.strictEqual(flag(printed[list], '--format'), 'json');
      const firstIndexCreate = printed.findIndex(c =>
        has(c, 'indexes', 'composite', 'create'),
      );
      assert.strictEqual(firstIndexCreate, list + 1);
      assert.ok(
        printed
          .slice(list + 1, list + 1 + RUN_INDEXES.length)
          .every(c => has(c, 'indexes', 'composite', 'create')),
      );
    });

    it('grants no public principal, owner or editor', () => {
      assert.ok(
        printed.some(c => has(c, 'add-iam-policy-binding')),
        dryRun.stderr,
      );
      assertNothingForbidden(printed.flat(), 'dry run');
      assert.doesNotMatch(
        dryRun.stdout,
        /allUsers|allAuthenticatedUsers|roles\/(owner|editor)\b/,
      );
    });

    it('without --webhook-secret: no secrets, no Secret Manager', () => {
      const r = deploy(base());
      assert.strictEqual(r.status, 0, r.stderr);
      assert.deepStrictEqual(r.calls, []);
      assert.doesNotMatch(r.stdout, /set-secrets|secretmanager|secrets /);
    });
  });

  describe('against gcloud', () => {
    // The webhook secret is the one thing deploy.sh expects to exist already.
    const args = () => [
      '--project',
      PROJECT,
      '--region',
      REGION,
      '--config',
      validConfig,
      '--webhook-secret',
      'pushrun-webhook',
    ];
    let first: Run;
    let second: Run;

    before(() => {
      fs.writeFileSync(
        path.join(work, 'state-fresh'),
        'secrets/pushrun-webhook\n',
      );
      first = deploy(args(), 'state-fresh');
      second = deploy(args(), 'state-fresh');
    });

    it('a first run creates everything in order and exits 0', () => {
      assert.strictEqual(first.status, 0, first.stderr);
      const order = [
        firstIndex(first.calls, 'services', 'enable'),
        firstIndex(first.calls, 'pubsub', 'topics', 'create'),
        firstIndex(first.calls, 'iam', 'service-accounts', 'create'),
        firstIndex(first.calls, 'projects', 'add-iam-policy-binding'),
        firstIndex(first.calls, 'firestore', 'databases', 'create'),
        firstIndex(first.calls, 'firestore', 'indexes', 'composite', 'create'),
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
        'APIs, topics, service accounts, roles, Firestore, indexes, functions, scheduler',
      );
      assert.match(first.stdout, /topic gcr: created/);
    });

    it('a first run makes exactly the calls the dry run printed', () => {
      const expected = printedCommands(dryRun.stdout).map(c =>
        c.map(a =>
          a
            .replace('PROJECT_NUMBER', PROJECT_NUMBER)
            .replace(
              /^EVENTARC_TRIGGER_OF_(\w+)$/,
              (_, fn: string) =>
                `projects/${PROJECT}/locations/${REGION}/triggers/${fn.toLowerCase()}-123456`,
            )
            .replace(
              /^EVENTARC_SUBSCRIPTION_OF_(\w+)$/,
              (_, fn: string) =>
                `projects/${PROJECT}/subscriptions/eventarc-${fn.toLowerCase()}-123456-sub`,
            ),
        ),
      );
      assert.strictEqual(first.status, 0, first.stderr);
      assert.ok(expected.length > 30, dryRun.stderr);
      assert.deepStrictEqual(first.calls, expected);
    });

    it('a second run creates nothing new and exits 0', () => {
      assert.strictEqual(second.status, 0, second.stderr);
      assert.deepStrictEqual(second.calls.filter(isCreate), []);
      assert.ok(
        first.calls.filter(isCreate).length >= 11,
        'the first run did create',
      );
      assert.ok(
        firstIndex(
          second.calls,
          'scheduler',
          'jobs',
          'update',
          'pushrun-reconcile',
        ) >= 0,
      );
      const deploys = second.calls.filter(c => has(c, 'functions', 'deploy'));
      assert.strictEqual(deploys.length, 3, 'functions are redeployed');
      assert.strictEqual(
        deploys.filter(c => flag(c, '--set-secrets')).length,
        2,
      );
      assert.match(second.stdout, /topic gcr: exists/);
    });

    it('creates each composite index once: the first run all five, the second none', () => {
      assert.strictEqual(first.status, 0, first.stderr);
      assert.deepStrictEqual(indexCreations(first.calls), RUN_INDEXES);
      assert.deepStrictEqual(indexCreations(second.calls), []);
      assert.ok(
        firstIndex(second.calls, 'firestore', 'indexes', 'composite', 'list') >=
          0,
        'the second run looked the indexes up',
      );
      assert.match(
        first.stdout,
        /index pushrun-runs \(mapping:ascending createdAt:descending\): building/,
      );
      assert.match(
        second.stdout,
        /index pushrun-runs \(mapping:ascending createdAt:descending\): exists/,
      );
    });

    it('creates only the missing indexes, ignoring other collections and the implicit __name__', () => {
      // listOpen's index made without its explicit __name__ (Firestore adds it), and the
      // mapping index on another collection, which does not count.
      fs.writeFileSync(
        path.join(work, 'state-some-indexes'),
        [
          'secrets/pushrun-webhook',
          'firestore indexes composite/pushrun-runs|field-path=open,order=ascending;field-path=createdAt,order=ascending',
          'firestore indexes composite/other-runs|field-path=mapping,order=ascending;field-path=createdAt,order=descending',
          '',
        ].join('\n'),
      );
      const r = deploy(args(), 'state-some-indexes');
      assert.strictEqual(r.status, 0, r.stderr);
      assert.deepStrictEqual(indexCreations(r.calls), RUN_INDEXES.slice(0, 4));
    });

    it('grants no public principal, owner or editor', () => {
      const grants = [...first.calls, ...second.calls].filter(c =>
        has(c, 'add-iam-policy-binding'),
      );
      assert.ok(grants.length > 0, first.stderr);
      for (const call of [...first.calls, ...second.calls]) {
        assertNothingForbidden(call, call.join(' '));
      }
    });

    it('stops on a lookup that fails for another reason than NOT_FOUND', () => {
      const r = deploy(args(), 'state-denied', {FAKE_GCLOUD_DENY: '1'});
      assert.strictEqual(r.status, 1);
      assert.match(r.stderr, /PERMISSION_DENIED/);
      assert.match(r.stderr, /could not tell whether this exists/);
      assert.deepStrictEqual(r.calls.filter(isCreate), []);
    });

    it('stops when the webhook secret does not exist, before creating anything', () => {
      const r = deploy(args(), 'state-no-secret');
      assert.strictEqual(r.status, 1);
      assert.match(r.stderr, /secret pushrun-webhook not found/);
      assert.ok(r.calls.length > 0);
      assert.deepStrictEqual(r.calls.filter(isCreate), []);
    });
  });
});
