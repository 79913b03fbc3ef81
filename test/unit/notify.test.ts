import {runRecord} from '../support/fixtures';
import * as assert from 'node:assert';
import {recordingLogger} from '../support/fixtures';
import * as http from 'node:http';
import {AddressInfo} from 'node:net';
import {
  buildRunNotification,
  formatRunMessage,
  humanizeSeconds,
  notificationType,
  postWebhook,
  redact,
  streamingText,
  webhookBody,
  webhookKind,
} from '../../shared/notify';
import {RunRecord} from '../../shared/runs/record';

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
  const cases: {name: string; r: RunRecord; lines: string[]}[] = [
    {
      name: 'succeeded with streaming and all timings',
      r: record(),
      lines: [
        '*trainer* succeeded: us-central1-docker.pkg.dev/p/ml/trainer:v1.2 (0123456789ab)',
        'Streaming: yes',
        'Time: push to launch 4s, launch to running 2m 05s, running to end 1h 02m',
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
        'Time: launch to running 2m 05s, running to end 1h 02m',
        `<${CONSOLE}|Open in Cloud Console>`,
      ],
    },
    {
      name: 'skipped: no job, no link',
      r: record({
        id: 'skip-trainer-0123456789ab',
        state: 'SKIPPED',
        jobName: undefined,
        launchedAt: undefined,
        startedAt: undefined,
        finishedAt: undefined,
        streaming: {
          requested: 'required',
          enabled: false,
          reasons: [{code: 'SCHEMA1_MANIFEST', message: 'v1'}],
        },
        skipReason: 'streaming is required and the image cannot stream',
      }),
      lines: [
        '*trainer* was skipped: us-central1-docker.pkg.dev/p/ml/trainer:v1.2 (0123456789ab)',
        'Streaming: no (SCHEMA1_MANIFEST)',
        'Why skipped: streaming is required and the image cannot stream',
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () =>
      assert.deepStrictEqual(formatRunMessage(c.r).split('\n'), c.lines),
    );
  }

  const durations: [number, string][] = [
    [0, '0s'],
    [4, '4s'],
    [59.6, '1m 00s'],
    [125, '2m 05s'],
    [3600, '1h 00m'],
    [3725, '1h 02m'],
    [90000, '1d 01h'],
    [-3, '0s'],
  ];
  for (const [s, want] of durations) {
    it(`humanizes ${s}s as ${want}`, () =>
      assert.strictEqual(humanizeSeconds(s), want));
  }

  it('maps states to notification types (cancelled counts as failed)', () => {
    assert.strictEqual(notificationType('SUCCEEDED'), 'run.succeeded');
    assert.strictEqual(notificationType('FAILED'), 'run.failed');
    assert.strictEqual(notificationType('CANCELLED'), 'run.failed');
    assert.strictEqual(notificationType('SKIPPED'), 'run.skipped');
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
        Object.keys(webhookBody(record(), webhookKind(url))),
        ['text'],
      );
    });
  }
});

describe('notify: webhook', () => {
  let server: http.Server;
  let base: string;
  let received: {path: string; body: unknown}[];
  let status: number;

  before(async () => {
    server = http.createServer((req, res) => {
      let data = '';
      req.on('data', c => (data += c));
      req.on('end', () => {
        received.push({path: req.url ?? '', body: JSON.parse(data)});
        res.writeHead(status).end();
      });
    });
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise(r => server.close(r)));
  beforeEach(() => {
    received = [];
    status = 200;
  });

  it('posts {text} to a loopback receiver once', async () => {
    const log = recordingLogger();
    const ok = await postWebhook(
      record(),
      `${base}/hook?token=s3cr3t`,
      fetch,
      log,
    );
    assert.strictEqual(ok, true);
    assert.strictEqual(received.length, 1);
    assert.deepStrictEqual(received[0].body, {
      text: formatRunMessage(record()),
    });
    assert.deepStrictEqual(log.lines, []);
  });

  it('retries a 5xx and logs the failure without the URL', async () => {
    status = 503;
    const log = recordingLogger();
    const url = `${base}/hook?token=s3cr3t`;
    const ok = await postWebhook(record(), url, fetch, log, 2);
    assert.strictEqual(ok, false);
    assert.strictEqual(received.length, 2);
    const text = JSON.stringify(log.lines);
    assert.ok(!text.includes('s3cr3t'), text);
    assert.match(text, /HTTP 503/);
  });

  it('does not retry a 4xx', async () => {
    status = 404;
    await postWebhook(record(), `${base}/x`, fetch, recordingLogger(), 3);
    assert.strictEqual(received.length, 1);
  });

  it('never lets the URL out of a fetch error, even when the error quotes it', async () => {
    const url =
      'https://chat.googleapis.com/v1/spaces/AAA/messages?key=KEY123&token=TOKEN456';
    const log = recordingLogger();
    const leaky: typeof fetch = async input => {
      throw new TypeError(`fetch failed for ${String(input)}`, {
        cause: new Error(`connect ECONNREFUSED ${String(input)}`),
      });
    };
    const ok = await postWebhook(record(), url, leaky, log, 2);
    assert.strictEqual(ok, false);
    const text = JSON.stringify(log.lines);
    assert.ok(!text.includes('TOKEN456') && !text.includes('KEY123'), text);
    assert.match(text, /\[webhook URL\]/);
  });

  it('redacts encoded forms too', () => {
    const url = 'https://hooks.slack.com/services/T/B/X y';
    assert.strictEqual(
      redact(`a ${encodeURI(url)} b ${url}`, url),
      'a [webhook URL] b [webhook URL]',
    );
  });
});
