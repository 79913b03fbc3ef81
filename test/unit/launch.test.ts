import * as assert from 'node:assert';
import {
  FakeBatchJobs,
  createdJob,
  recordingLogger,
  servedFetch,
} from '../support/fixtures';
import * as sinon from 'sinon';
import type {CreateJobOutcome, CreateJobRequest} from '../../shared/batch/jobs';
import {parseConfig} from '../../shared/config';
import {PermanentError, TransientError} from '../../shared/errors';
import type {ImagePush} from '../../shared/events';
import {parseImageRef} from '../../shared/image_ref';
import {launchRuns, type LaunchDeps} from '../../shared/launch';
import {mergeRecord} from '../../shared/runs/launch_record';
import type {Notifier} from '../../shared/notify';
import {DigestCache, makeRegistry} from '../../shared/registry';
import type {RunRecord} from '../../shared/runs/record';
import {MemoryRunStore} from '../../shared/runs/memory_store';
import {buildImage, type BuiltImage} from '../../sandbox/images';
import {parseSettings} from '../../shared/settings';

const IMAGE = 'us-central1-docker.pkg.dev/acme/ml/app';
const CONFIG = `
mappings:
  - name: alpha
    match: {image: ${IMAGE}}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["a"]}}]}}]}
  - name: beta
    match: {image: ${IMAGE}}
    streaming: required
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: ["b"]}}]}}]}
`;

describe('launchRuns', () => {
  let clean: BuiltImage;
  let dup: BuiltImage;
  const now = new Date('2026-11-28T12:00:00Z');
  before(async () => {
    clean = await buildImage('clean');
    dup = await buildImage('duplicate-layer');
  });
  afterEach(() => sinon.restore());

  function setup(
    image: BuiltImage,
    opts: {
      status?: number | 'unreachable';
      answer?: (r: CreateJobRequest) => CreateJobOutcome | Error;
    } = {},
  ) {
    const batch = new FakeBatchJobs({answer: opts.answer ?? createdJob});
    const requests = batch.created;
    const notified: RunRecord[] = [];
    const notifier: Notifier = {
      notifyRun: sinon.fake(async (r: RunRecord) => void notified.push(r)),
    };
    const log = recordingLogger();
    const store = new MemoryRunStore();
    const deps: LaunchDeps = {
      config: parseConfig(CONFIG, 'pushrun.yaml').config!,
      project: 'p',
      log,
      maxEventAgeMs: 3600_000,
      registry: makeRegistry(
        parseSettings({PUSHRUN_REGISTRY_ENDPOINT: 'http://registry.test'}),
        {fetch: servedFetch(image, opts.status), cache: new DigestCache()},
      ),
      batch,
      store,
      notifier,
      now: () => now,
    };
    const push: ImagePush = {
      eventId: 'e1',
      digestRef: parseImageRef(`${IMAGE}@${image.digest}`),
      tag: 'v1',
      publishedAt: new Date(now.getTime() - 1000),
    };
    return {deps, push, requests, notified, log, store};
  }

  it('launches each matching mapping, and records a skip for one that requires streaming', async () => {
    const t = setup(dup);
    const outcomes = await launchRuns(t.push, t.deps);
    assert.deepStrictEqual(
      outcomes.map(o => [o.kind, o.mapping]),
      [
        ['launched', 'alpha'],
        ['skipped', 'beta'],
      ],
    );
    assert.strictEqual(t.requests.length, 1);
    assert.strictEqual(
      t.store.records.get(`alpha-${dup.digest.slice(7, 19)}`)?.state,
      'QUEUED',
    );
    assert.strictEqual(
      t.store.records.get(`skip-beta-${dup.digest.slice(7, 19)}`)?.state,
      'SKIPPED',
    );
    assert.deepStrictEqual(
      t.notified.map(r => r.state),
      ['SKIPPED'],
    );
  });

  it('deliveries of one message share one launch, at once or later: one CreateJob, one launched', async () => {
    const t = setup(clean);
    const deps = {...t.deps, inFlight: new Map<string, Promise<unknown>>()};
    const all = await Promise.all(
      Array.from({length: 5}, () => launchRuns(t.push, deps)),
    );
    const alpha = all.map(o => o.find(x => x.mapping === 'alpha')!.kind);
    assert.deepStrictEqual(alpha.sort(), [
      'exists',
      'exists',
      'exists',
      'exists',
      'launched',
    ]);
    assert.strictEqual(
      t.requests.filter(r => r.jobId.startsWith('alpha')).length,
      1,
    );
    // A later redelivery finds the launch done: no second CreateJob, and one log line.
    const before = t.log.lines.length;
    const later = await launchRuns(t.push, deps);
    assert.strictEqual(later.find(x => x.mapping === 'alpha')!.kind, 'exists');
    assert.strictEqual(
      t.requests.filter(r => r.jobId.startsWith('alpha')).length,
      1,
    );
    assert.ok(
      t.log.lines
        .slice(before)
        .some(l => l.decision === 'exists' && l.mapping === 'alpha'),
    );
  });

  it('a failed launch is forgotten: its redelivery tries again', async () => {
    let fail = true;
    const t = setup(clean, {
      answer: r => {
        if (r.jobId.startsWith('alpha') && fail) {
          fail = false;
          return new TransientError('UNAVAILABLE');
        }
        return createdJob(r);
      },
    });
    const deps = {...t.deps, inFlight: new Map<string, Promise<unknown>>()};
    await assert.rejects(launchRuns(t.push, deps), TransientError);
    const again = await launchRuns(t.push, deps);
    assert.strictEqual(
      again.find(x => x.mapping === 'alpha')!.kind,
      'launched',
    );
    assert.strictEqual(
      t.requests.filter(r => r.jobId.startsWith('alpha')).length,
      2,
    );
  });

  it('a second message of the push (another tag) merges into the record: tags, one launch', async () => {
    const t = setup(clean, {
      answer: r =>
        t.requests.filter(x => x.jobId === r.jobId).length > 1
          ? {created: false, alreadyExists: true}
          : createdJob(r),
    });
    await launchRuns(t.push, t.deps);
    const again = await launchRuns({...t.push, tag: 'latest'}, t.deps);
    assert.deepStrictEqual(
      again.map(o => o.kind),
      ['exists', 'exists'],
    );
    const record = t.store.records.get(`alpha-${clean.digest.slice(7, 19)}`)!;
    assert.deepStrictEqual([...record.tags].sort(), ['latest', 'v1']);
  });

  it('messages of one push that arrive while its launch is under way ride along: one CreateJob, one record write', async () => {
    const t = setup(clean);
    const deps = {...t.deps, inFlight: new Map<string, Promise<unknown>>()};
    const create = sinon.spy(t.store, 'create');
    const patch = sinon.spy(t.store, 'patch');
    const tags = ['v1', 'v2', 'latest', undefined];
    const all = await Promise.all(
      tags.map(tag => launchRuns({...t.push, tag}, deps)),
    );
    const alpha = all.map(o => o.find(x => x.mapping === 'alpha')!.kind);
    assert.deepStrictEqual(alpha, ['launched', 'exists', 'exists', 'exists']);
    const id = `alpha-${clean.digest.slice(7, 19)}`;
    assert.strictEqual(t.requests.filter(r => r.jobId === id).length, 1);
    assert.deepStrictEqual([...t.store.records.get(id)!.tags].sort(), [
      'latest',
      'v1',
      'v2',
    ]);
    assert.strictEqual(create.args.filter(([r]) => r.id === id).length, 1);
    assert.strictEqual(patch.args.filter(([i]) => i === id).length, 0);
    // Once the record is written, a later message writes what it adds itself: a tag is one
    // write that reads nothing.
    const addTag = sinon.spy(t.store, 'addTag');
    await launchRuns({...t.push, tag: 'v3'}, deps);
    assert.deepStrictEqual(
      addTag.args.filter(([i]) => i === id),
      [[id, 'v3']],
    );
    assert.strictEqual(patch.args.filter(([i]) => i === id).length, 0);
    assert.ok(t.store.records.get(id)!.tags.includes('v3'));
    assert.strictEqual(t.requests.filter(r => r.jobId === id).length, 1);
  });

  const failures: {
    name: string;
    status: number | 'unreachable';
    error: typeof TransientError | typeof PermanentError;
  }[] = [
    {name: 'registry 503', status: 503, error: TransientError},
    {name: 'registry 500', status: 500, error: TransientError},
    {name: 'registry 429 (rate limited)', status: 429, error: TransientError},
    {
      name: 'registry unreachable',
      status: 'unreachable',
      error: TransientError,
    },
    {
      name: 'registry 403 (access not granted yet)',
      status: 403,
      error: TransientError,
    },
    {name: 'registry 404', status: 404, error: PermanentError},
  ];
  for (const f of failures) {
    it(`${f.name} → ${f.error.name}, no job, no record`, async () => {
      const t = setup(clean, {status: f.status});
      await assert.rejects(launchRuns(t.push, t.deps), f.error);
      assert.strictEqual(t.requests.length, 0);
      assert.strictEqual(t.store.records.size, 0);
      assert.strictEqual(
        (t.deps.notifier.notifyRun as sinon.SinonSpy).callCount,
        0,
      );
    });
  }

  it('a transient Batch fault on one mapping throws after the others are launched', async () => {
    const t = setup(clean, {
      answer: r =>
        r.jobId.startsWith('alpha')
          ? new TransientError('UNAVAILABLE')
          : createdJob(r),
    });
    await assert.rejects(launchRuns(t.push, t.deps), TransientError);
    assert.deepStrictEqual(t.requests.map(r => r.jobId.split('-')[0]).sort(), [
      'alpha',
      'beta',
    ]);
    assert.ok(t.store.records.has(`beta-${clean.digest.slice(7, 19)}`));
    assert.ok(!t.store.records.has(`alpha-${clean.digest.slice(7, 19)}`));
    assert.ok(
      t.log.lines.some(l => l.decision === 'retry' && l.mapping === 'alpha'),
    );
    assert.ok(
      t.log.lines.some(l => l.decision === 'launched' && l.mapping === 'beta'),
    );
  });

  it('an unclassified Batch fault is retried as a TransientError', async () => {
    const t = setup(clean, {
      answer: r =>
        r.jobId.startsWith('beta')
          ? new Error('socket hang up')
          : createdJob(r),
    });
    await assert.rejects(launchRuns(t.push, t.deps), (e: Error) => {
      assert.ok(e instanceof TransientError, e.name);
      assert.match(e.message, /socket hang up/);
      return true;
    });
    assert.ok(t.store.records.has(`alpha-${clean.digest.slice(7, 19)}`));
  });

  it('a permanent Batch refusal is logged as failed and does not hold back the others', async () => {
    const t = setup(clean, {
      answer: r =>
        r.jobId.startsWith('alpha')
          ? new PermanentError('INVALID_ARGUMENT')
          : createdJob(r),
    });
    const outcomes = await launchRuns(t.push, t.deps);
    assert.deepStrictEqual(outcomes.map(o => o.kind).sort(), [
      'failed',
      'launched',
    ]);
    assert.ok(
      t.log.lines.some(l => l.decision === 'failed' && l.mapping === 'alpha'),
    );
    assert.strictEqual(
      t.store.records.get(`beta-${clean.digest.slice(7, 19)}`)?.state,
      'QUEUED',
    );
    assert.ok(!t.store.records.has(`alpha-${clean.digest.slice(7, 19)}`));
  });

  it('ALREADY_EXISTS is success and folds the new tag into the record', async () => {
    const t = setup(clean);
    await launchRuns(t.push, t.deps);
    const again = setup(clean, {
      answer: () => ({created: false, alreadyExists: true}),
    });
    const store = t.store;
    const outcomes = await launchRuns(
      {...t.push, tag: 'latest'},
      {...again.deps, store},
    );
    assert.deepStrictEqual(
      outcomes.map(o => o.kind),
      ['exists', 'exists'],
    );
    assert.deepStrictEqual(
      store.records.get(`alpha-${clean.digest.slice(7, 19)}`)?.tags,
      ['v1', 'latest'],
    );
  });

  it('a push older than the max age is acknowledged without a run', async () => {
    const t = setup(clean);
    const old = {
      ...t.push,
      publishedAt: new Date(now.getTime() - 2 * 3600_000),
    };
    assert.deepStrictEqual(await launchRuns(old, t.deps), []);
    assert.strictEqual(t.requests.length, 0);
    assert.ok(t.log.lines.some(l => l.decision === 'expired'));
  });
});

describe('mergeRecord', () => {
  const base: RunRecord = {
    id: 'alpha-0123456789ab',
    mapping: 'alpha',
    image: IMAGE,
    digest: 'sha256:' + '0'.repeat(64),
    tags: ['v1'],
    region: 'us-central1',
    streaming: {requested: 'auto', enabled: true, reasons: []},
    state: 'RUNNING',
    createdAt: new Date(0),
    history: [],
  };
  const cases: {
    name: string;
    current?: RunRecord;
    fresh: RunRecord;
    changed: boolean;
    check: (r: RunRecord) => void;
  }[] = [
    {
      name: 'no record yet: the fresh one',
      fresh: base,
      changed: true,
      check: r => assert.strictEqual(r, base),
    },
    {
      name: 'a second tag is added, the state kept',
      current: base,
      fresh: {...base, tags: ['latest'], state: 'QUEUED'},
      changed: true,
      check: r => {
        assert.deepStrictEqual(r.tags, ['v1', 'latest']);
        assert.strictEqual(r.state, 'RUNNING');
      },
    },
    {
      name: 'the same launch again changes nothing',
      current: base,
      fresh: base,
      changed: false,
      check: () => {},
    },
    {
      name: 'a record without a job uid gets the uid, keeping what it had',
      current: {...base, launchedAt: new Date(1)},
      fresh: {...base, jobUid: 'uid-1', launchedAt: new Date(9)},
      changed: true,
      check: r => {
        assert.strictEqual(r.jobUid, 'uid-1');
        assert.deepStrictEqual(r.launchedAt, new Date(1));
      },
    },
    {
      name: 'a repeated tag is kept once',
      current: base,
      fresh: {...base, tags: ['v1']},
      changed: false,
      check: r => assert.deepStrictEqual(r.tags, ['v1']),
    },
    {
      name: 'a record made from job labels gets the verdict and push time',
      current: {
        ...base,
        image: '',
        streaming: {requested: 'unknown', enabled: false, reasons: []},
      },
      fresh: {
        ...base,
        pushedAt: new Date(5),
        streaming: {
          requested: 'auto',
          enabled: false,
          reasons: [{code: 'EMPTY_LAYER', message: 'm'}],
        },
      },
      changed: true,
      check: r => {
        assert.strictEqual(r.image, IMAGE);
        assert.strictEqual(r.streaming.reasons[0].code, 'EMPTY_LAYER');
        assert.deepStrictEqual(r.pushedAt, new Date(5));
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const m = mergeRecord(c.current, c.fresh);
      assert.strictEqual(m.changed, c.changed);
      c.check(m.record!);
    });
  }
});
