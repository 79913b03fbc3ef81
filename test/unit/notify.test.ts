import {SKIPPED_PUSH, runRecord} from '../support/fixtures';
import * as assert from 'node:assert';
import {
  buildRunNotification,
  formatRunMessage,
  notificationType,
  streamingText,
  webhookBody,
  webhookKind,
} from '../../shared/notify';
import {RunRecord} from '../../shared/runs/record';
import type {RunContext} from '../../shared/webhook/message';

const T0 = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

function record(extra: Partial<RunRecord> = {}): RunRecord {
  return runRecord('trainer-0123456789ab', {
    digest: 'sha256:0123456789abcdef0123456789abcdef',
    tags: ['v1.2'],
    state: 'SUCCEEDED',
    createdAt: T0,
    pushedAt: at(0),
    launchedAt: at(4),
    startedAt: at(129),
    finishedAt: at(129 + 3720),
    ...extra,
  });
}

const CONSOLE =
  'https://console.cloud.google.com/batch/jobsDetail/regions/us-central1/jobs/trainer-0123456789ab/details?project=p';

describe('notify: message formatting', () => {
  const cases: {
    name: string;
    r: RunRecord;
    context?: RunContext;
    lines: string[];
  }[] = [
    {
      name: 'succeeded with streaming and all timings',
      r: record(),
      lines: [
        '*trainer* succeeded: us-central1-docker.pkg.dev/p/ml/trainer:v1.2 (0123456789ab)',
        'Streaming: yes',
        'Time: push to launch 4s, running to end 1h 02m',
        'started in 2 min 5 s',
        `<${CONSOLE}|Open in Cloud Console>`,
      ],
    },
    {
      name: 'failed without streaming, reasons deduplicated',
      r: record({
        state: 'FAILED',
        tags: [],
        startedAt: undefined,
        streaming: {
          requested: 'auto',
          enabled: false,
          reasons: [
            {code: 'EMPTY_LAYER', message: 'layer 1'},
            {code: 'EMPTY_LAYER', message: 'layer 3'},
            {code: 'LOCATION_MISMATCH', message: 'us vs eu'},
          ],
        },
      }),
      lines: [
        '*trainer* failed: us-central1-docker.pkg.dev/p/ml/trainer (0123456789ab)',
        'Streaming: no (EMPTY_LAYER, LOCATION_MISMATCH)',
        'Time: push to launch 4s',
        `<${CONSOLE}|Open in Cloud Console>`,
      ],
    },
    {
      name: 'cancelled, streaming off',
      r: record({
        state: 'CANCELLED',
        streaming: {requested: 'off', enabled: false, reasons: []},
        pushedAt: undefined,
      }),
      lines: [
        '*trainer* was cancelled: us-central1-docker.pkg.dev/p/ml/trainer:v1.2 (0123456789ab)',
        'Streaming: off',
        'Time: running to end 1h 02m',
        'started in 2 min 5 s',
        `<${CONSOLE}|Open in Cloud Console>`,
      ],
    },
    {
      name: 'skipped: no job, no link',
      r: record({
        ...SKIPPED_PUSH,
        streaming: {
          requested: 'required',
          enabled: false,
          reasons: [{code: 'SCHEMA1_MANIFEST', message: 'v1'}],
        },
        skipReason: 'streaming is required and the image cannot stream',
        skipCode: 'STREAMING_REQUIRED',
      }),
      lines: [
        '*trainer* was skipped: us-central1-docker.pkg.dev/p/ml/trainer:v1.2 (0123456789ab)',
        'Streaming: no (SCHEMA1_MANIFEST)',
        'Why skipped: streaming is required and the image cannot stream (STREAMING_REQUIRED)',
      ],
    },
    {
      name: 'skipped over a limit, code only',
      r: record({
        ...SKIPPED_PUSH,
        skipCode: 'RATE_LIMITED',
      }),
      lines: [
        '*trainer* was skipped: us-central1-docker.pkg.dev/p/ml/trainer:v1.2 (0123456789ab)',
        'Streaming: yes',
        'Why skipped: (RATE_LIMITED)',
      ],
    },
    {
      name: 'superseded while queued: the newer job, no startup',
      r: record({
        state: 'CANCELLED',
        supersededBy: 'trainer-fedcba987654',
        startedAt: undefined,
      }),
      context: {pulledStartupMedianSeconds: 190},
      lines: [
        '*trainer* was superseded: us-central1-docker.pkg.dev/p/ml/trainer:v1.2 (0123456789ab)',
        'Streaming: yes',
        'Superseded by: trainer-fedcba987654',
        'Time: push to launch 4s',
        `<${CONSOLE}|Open in Cloud Console>`,
      ],
    },
    {
      name: "streamed, next to the mapping's pulled median",
      r: record({startedAt: at(45), finishedAt: at(100)}),
      context: {pulledStartupMedianSeconds: 190},
      lines: [
        '*trainer* succeeded: us-central1-docker.pkg.dev/p/ml/trainer:v1.2 (0123456789ab)',
        'Streaming: yes',
        'Time: push to launch 4s, running to end 55s',
        "started in 41 s; this mapping's pulled runs: median 3 min 10 s",
        `<${CONSOLE}|Open in Cloud Console>`,
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () =>
      assert.deepStrictEqual(
        formatRunMessage(c.r, c.context).split('\n'),
        c.lines,
      ),
    );
  }

  it('maps states to notification types (cancelled counts as failed)', () => {
    assert.strictEqual(notificationType('SUCCEEDED'), 'run.succeeded');
    assert.strictEqual(notificationType('FAILED'), 'run.failed');
    assert.strictEqual(notificationType('CANCELLED'), 'run.failed');
    assert.strictEqual(notificationType('SKIPPED'), 'run.skipped');
    assert.strictEqual(
      notificationType('CANCELLED', 'trainer-fedcba987654'),
      'run.superseded',
    );
  });

  it('builds the topic message: record, console link, attributes, no claim', () => {
    const n = buildRunNotification(
      record({notifyClaim: {token: 't', at: at(1)}}),
    );
    assert.deepStrictEqual(n.attributes, {
      type: 'run.succeeded',
      mapping: 'trainer',
      state: 'SUCCEEDED',
      runId: 'trainer-0123456789ab',
    });
    assert.strictEqual(n.body.consoleUrl, CONSOLE);
    assert.strictEqual(n.body.notifyClaim, undefined);
    assert.strictEqual(
      n.body.digest,
      'sha256:0123456789abcdef0123456789abcdef',
    );
  });

  it('says why streaming was not used', () => {
    assert.strictEqual(
      streamingText(
        record({streaming: {requested: 'auto', enabled: false, reasons: []}}),
      ),
      'no',
    );
  });

  const kinds: [string, string][] = [
    [
      'https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t',
      'google-chat',
    ],
    ['https://hooks.slack.com/services/T/B/X', 'slack'],
    ['http://127.0.0.1:8080/hook', 'generic'],
    ['not a url', 'generic'],
  ];
  for (const [url, kind] of kinds) {
    it(`treats ${url} as ${kind}`, () => {
      assert.strictEqual(webhookKind(url), kind);
      assert.deepStrictEqual(
        Object.keys(webhookBody(record(), webhookKind(url))).sort(),
        kind === 'google-chat'
          ? ['cardsV2', 'fallbackText', 'text']
          : ['blocks', 'text'],
      );
    });
  }
});
