import * as assert from 'node:assert';
import {parseSettings} from '../../shared/settings';
import {
  JOB_STATES,
  isJobState,
  isTerminalState,
  newStateOfEvent,
  toJobState,
} from '../../shared/batch/job_state';
import {
  batchClientOptions,
  classifyBatchError,
  isTransientGrpcError,
} from '../../shared/batch/client';
import {
  durationToSeconds,
  int64ToNumber,
  timestampToDate,
  toBatchJob,
} from '../../shared/batch/jobs';
import {parseEndpoint} from '../../shared/settings';
import {ConfigError, PermanentError, TransientError} from '../../shared/errors';
import {batchStateMessage} from '../../sandbox/batch_messages';

/** A stand-in for protobufjs's Long: only what the converter may call. */
const long = (n: number) => ({toNumber: () => n, toString: () => String(n)});

describe('batch: job states', () => {
  it('lists the nine states in enum order', () => {
    assert.strictEqual(JOB_STATES.length, 9);
    assert.strictEqual(JOB_STATES[4], 'SUCCEEDED');
    assert.strictEqual(JOB_STATES[8], 'CANCELLED');
  });
  const guards = [
    {name: 'a state', x: 'RUNNING', ok: true},
    {name: 'lowercase', x: 'running', ok: false},
    {name: 'a number', x: 3, ok: false},
    {name: 'undefined', x: undefined, ok: false},
  ];
  for (const c of guards) {
    it(`isJobState: ${c.name}`, () =>
      assert.strictEqual(isJobState(c.x), c.ok));
  }
  const terminal = JOB_STATES.filter(isTerminalState);
  it('terminal states are SUCCEEDED, FAILED, CANCELLED', () =>
    assert.deepStrictEqual(terminal, ['SUCCEEDED', 'FAILED', 'CANCELLED']));
  const wire = [
    {name: 'name', v: 'FAILED', want: 'FAILED'},
    {name: 'enum number', v: 3, want: 'RUNNING'},
    {name: 'out of range', v: 42, want: 'STATE_UNSPECIFIED'},
    {name: 'absent', v: undefined, want: 'STATE_UNSPECIFIED'},
  ];
  for (const c of wire) {
    it(`toJobState: ${c.name}`, () =>
      assert.strictEqual(toJobState(c.v), c.want));
  }
});

describe('batch: scalar conversions', () => {
  const int64s = [
    {name: 'string', v: '42', want: 42},
    {name: 'number', v: 7, want: 7},
    {name: 'Long', v: long(9), want: 9},
    {name: 'empty string', v: '', want: undefined},
    {name: 'null', v: null, want: undefined},
    {name: 'garbage', v: 'x', want: undefined},
  ];
  for (const c of int64s) {
    it(`int64ToNumber: ${c.name}`, () =>
      assert.strictEqual(int64ToNumber(c.v), c.want));
  }
  const timestamps = [
    {
      name: 'string seconds',
      v: {seconds: '1700000000', nanos: 5e8},
      ms: 1700000000500,
    },
    {
      name: 'Long seconds',
      v: {seconds: long(1700000000), nanos: 0},
      ms: 1700000000000,
    },
    {name: 'no nanos', v: {seconds: 10}, ms: 10000},
    {name: 'null (defaults: true)', v: null, ms: undefined},
    {name: 'no seconds', v: {nanos: 1}, ms: undefined},
  ];
  for (const c of timestamps) {
    it(`timestampToDate: ${c.name}`, () =>
      assert.strictEqual(timestampToDate(c.v)?.getTime(), c.ms));
  }
  const durations = [
    {name: 'whole', v: {seconds: '3600'}, s: 3600},
    {name: 'fraction', v: {seconds: '1', nanos: 250_000_000}, s: 1.25},
    {name: 'Long', v: {seconds: long(90), nanos: 0}, s: 90},
    {name: 'absent', v: undefined, s: undefined},
  ];
  for (const c of durations) {
    it(`durationToSeconds: ${c.name}`, () =>
      assert.strictEqual(durationToSeconds(c.v), c.s));
  }
  const events = [
    {
      name: 'state change',
      d: 'Job state is set from QUEUED to SCHEDULED for job projects/p/locations/r/jobs/j.',
      want: 'SCHEDULED',
    },
    {name: 'no state', d: 'Job is running on 2 VMs', want: undefined},
    {name: 'not a job state', d: 'moved to ZONE_B', want: undefined},
    {name: 'absent', d: undefined, want: undefined},
  ];
  for (const c of events) {
    it(`newStateOfEvent: ${c.name}`, () =>
      assert.strictEqual(newStateOfEvent(c.d), c.want));
  }
});

describe('batch: toBatchJob', () => {
  it('converts a job as the client returns it (longs as strings, defaults on)', () => {
    const job = toBatchJob({
      name: 'projects/p/locations/us-central1/jobs/trainer-0123456789ab',
      uid: 'trainer-0123-uid',
      labels: {'pushrun-mapping': 'trainer'},
      createTime: {seconds: '1700000000', nanos: 0},
      updateTime: {seconds: '1700000060', nanos: 0},
      status: {
        state: 'SUCCEEDED',
        statusEvents: [
          {
            type: 'STATUS_CHANGED',
            description:
              'Job state is set from RUNNING to SUCCEEDED for job projects/p/locations/us-central1/jobs/trainer-0123456789ab.',
            eventTime: {seconds: '1700000060', nanos: 0},
            taskExecution: null,
            taskState: 'STATE_UNSPECIFIED',
          },
        ],
        taskGroups: {
          group0: {counts: {SUCCEEDED: '3', FAILED: '1'}, instances: []},
        },
        runDuration: {seconds: '42', nanos: 500_000_000},
      },
    });
    assert.deepStrictEqual(job, {
      name: 'projects/p/locations/us-central1/jobs/trainer-0123456789ab',
      uid: 'trainer-0123-uid',
      state: 'SUCCEEDED',
      labels: {'pushrun-mapping': 'trainer'},
      createTime: new Date(1700000000000),
      updateTime: new Date(1700000060000),
      statusEvents: [
        {
          type: 'STATUS_CHANGED',
          description:
            'Job state is set from RUNNING to SUCCEEDED for job projects/p/locations/us-central1/jobs/trainer-0123456789ab.',
          eventTime: new Date(1700000060000),
          newState: 'SUCCEEDED',
        },
      ],
      taskCounts: {SUCCEEDED: 3, FAILED: 1},
      runDurationSeconds: 42.5,
    });
  });

  const cases = [
    {
      name: 'a new job: no status yet',
      job: {name: 'n', uid: 'u', status: null, createTime: null},
      check: (j: ReturnType<typeof toBatchJob>) => {
        assert.strictEqual(j.state, 'STATE_UNSPECIFIED');
        assert.deepStrictEqual(j.statusEvents, []);
        assert.deepStrictEqual(j.taskCounts, {});
        assert.strictEqual(j.createTime, undefined);
        assert.strictEqual(j.runDurationSeconds, undefined);
      },
    },
    {
      name: 'task counts summed over groups, Long counts',
      job: {
        status: {
          state: 4,
          taskGroups: {
            a: {counts: {SUCCEEDED: long(2)}},
            b: {counts: {SUCCEEDED: 1, RUNNING: '5'}},
          },
        },
      },
      check: (j: ReturnType<typeof toBatchJob>) => {
        assert.strictEqual(j.state, 'SUCCEEDED');
        assert.deepStrictEqual(j.taskCounts, {SUCCEEDED: 3, RUNNING: 5});
      },
    },
    {
      name: 'labels are copied, not shared',
      job: {labels: {a: 'b'}},
      check: (j: ReturnType<typeof toBatchJob>) => {
        assert.deepStrictEqual(j.labels, {a: 'b'});
        assert.strictEqual(j.name, '');
      },
    },
  ];
  for (const c of cases) it(c.name, () => c.check(toBatchJob(c.job)));
});

describe('batch: error mapping', () => {
  const codes = [
    {name: 'UNKNOWN', code: 2, transient: true},
    {name: 'INVALID_ARGUMENT', code: 3, transient: false},
    {name: 'DEADLINE_EXCEEDED', code: 4, transient: true},
    {name: 'NOT_FOUND', code: 5, transient: false},
    {name: 'ALREADY_EXISTS', code: 6, transient: false},
    {name: 'PERMISSION_DENIED', code: 7, transient: false},
    {name: 'RESOURCE_EXHAUSTED', code: 8, transient: true},
    {name: 'FAILED_PRECONDITION', code: 9, transient: false},
    {name: 'ABORTED', code: 10, transient: true},
    {name: 'UNIMPLEMENTED', code: 12, transient: false},
    {name: 'INTERNAL', code: 13, transient: true},
    {name: 'UNAVAILABLE', code: 14, transient: true},
    {name: 'UNAUTHENTICATED', code: 16, transient: false},
  ];
  for (const c of codes) {
    it(`${c.name} (${c.code}) → ${c.transient ? 'TransientError' : 'PermanentError'}`, () => {
      const cause = Object.assign(new Error(`${c.code} ${c.name}: boom`), {
        code: c.code,
      });
      assert.strictEqual(isTransientGrpcError(cause), c.transient);
      const err = classifyBatchError('createJob x', cause);
      assert.ok(err instanceof (c.transient ? TransientError : PermanentError));
      assert.strictEqual(err.cause, cause);
      assert.match(err.message, /Batch createJob x failed: .*boom/);
    });
  }
  it('an error without a gRPC code is transient (socket errors)', () =>
    assert.strictEqual(isTransientGrpcError(new Error('ECONNRESET')), true));
});

describe('batch: endpoint options', () => {
  const endpoints = [
    {name: 'host:port', text: 'localhost:8085', host: 'localhost', port: 8085},
    {name: 'IPv4', text: '127.0.0.1:1', host: '127.0.0.1', port: 1},
    {
      name: 'IPv6 keeps brackets',
      text: '[::1]:9000',
      host: '[::1]',
      port: 9000,
    },
  ];
  for (const c of endpoints) {
    it(`parseEndpoint: ${c.name}`, () =>
      assert.deepStrictEqual(parseEndpoint(c.text), {
        host: c.host,
        port: c.port,
      }));
  }
  for (const bad of ['localhost', 'http://localhost:80', ':80', 'host:port']) {
    it(`parseEndpoint rejects "${bad}"`, () =>
      assert.throws(() => parseEndpoint(bad), ConfigError));
  }
  it('no endpoint: Google defaults', () =>
    assert.deepStrictEqual(batchClientOptions(parseSettings({})), {}));
  it('PUSHRUN_BATCH_ENDPOINT: plaintext channel to that host and port', () => {
    const o = batchClientOptions(
      parseSettings({PUSHRUN_BATCH_ENDPOINT: '127.0.0.1:7001'}),
    );
    assert.strictEqual(o.apiEndpoint, '127.0.0.1');
    assert.strictEqual(o.port, 7001);
    assert.ok(o.sslCreds, 'sslCreds set');
    assert.strictEqual(o.sslCreds!._isSecure(), false);
  });
});

describe('batch: JOB_STATE_CHANGED message', () => {
  it('carries Batch attributes, region from the job name', () => {
    const m = batchStateMessage(
      {name: 'projects/p/locations/europe-west4/jobs/j-1', uid: 'j-1-uid'},
      'FAILED',
    );
    assert.deepStrictEqual(m.attributes, {
      Type: 'JOB_STATE_CHANGED',
      JobName: 'projects/p/locations/europe-west4/jobs/j-1',
      JobUID: 'j-1-uid',
      NewJobState: 'FAILED',
      Region: 'europe-west4',
    });
    assert.ok(Buffer.isBuffer(m.data) && m.data.length > 0);
  });
});
