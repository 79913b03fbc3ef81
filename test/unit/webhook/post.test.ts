/**
 * Posting to a webhook against a real HTTP server on loopback: the body that arrives, retries
 * of 5xx and 429 (honouring Retry-After as seconds or as an HTTP date, within the time budget),
 * and the secret URL kept out of every log line.
 */
import * as assert from 'node:assert';
import * as http from 'node:http';
import {AddressInfo} from 'node:net';
import {recordingLogger, runRecord} from '../../support/fixtures';
import {webhookBody} from '../../../shared/webhook/cards';
import {formatRunMessage} from '../../../shared/webhook/message';
import {postWebhook, redact, retryAfterMs} from '../../../shared/webhook/post';

const record = () =>
  runRecord('trainer-0123456789ab', {
    state: 'SUCCEEDED',
    launchedAt: new Date('2026-01-01T00:00:04Z'),
    startedAt: new Date('2026-01-01T00:00:45Z'),
    finishedAt: new Date('2026-01-01T00:10:00Z'),
  });

/** One answer of the receiver: a status and headers. */
interface Answer {
  readonly status: number;
  readonly headers?: Record<string, string>;
}

describe('webhook: posting', () => {
  let server: http.Server;
  let base: string;
  let received: {path: string; body: unknown; at: number}[];
  let answers: Answer[];

  before(async () => {
    server = http.createServer((req, res) => {
      let data = '';
      req.on('data', c => (data += c));
      req.on('end', () => {
        received.push({
          path: req.url ?? '',
          body: JSON.parse(data),
          at: Date.now(),
        });
        const a = answers.shift() ?? {status: 200};
        res.writeHead(a.status, a.headers).end();
      });
    });
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise(r => server.close(r)));
  beforeEach(() => {
    received = [];
    answers = [];
  });

  it('posts the Slack-shaped body with the startup comparison to a loopback receiver once', async () => {
    const log = recordingLogger();
    const context = {pulledStartupMedianSeconds: 190};
    const ok = await postWebhook(record(), `${base}/hook?token=s3cr3t`, {
      log,
      context,
    });
    assert.strictEqual(ok, true);
    assert.strictEqual(received.length, 1);
    assert.deepStrictEqual(
      received[0].body,
      webhookBody(record(), 'generic', context),
    );
    assert.strictEqual(
      (received[0].body as {text: string}).text,
      formatRunMessage(record(), context),
    );
    assert.match(
      (received[0].body as {text: string}).text,
      /started in 41 s; this mapping's pulled runs: median 3 min 10 s/,
    );
    assert.deepStrictEqual(log.lines, []);
  });

  it('retries a 5xx and logs the failure without the URL', async () => {
    answers = [{status: 503}, {status: 503}];
    const log = recordingLogger();
    const url = `${base}/hook?token=s3cr3t`;
    const ok = await postWebhook(record(), url, {log, attempts: 2});
    assert.strictEqual(ok, false);
    assert.strictEqual(received.length, 2);
    const text = JSON.stringify(log.lines);
    assert.ok(!text.includes('s3cr3t'), text);
    assert.match(text, /HTTP 503/);
  });

  it('does not retry a 4xx other than 429', async () => {
    answers = [{status: 404}];
    await postWebhook(record(), `${base}/x`, {log: recordingLogger()});
    assert.strictEqual(received.length, 1);
  });

  it('waits out a 429 for the seconds Retry-After says, then delivers', async () => {
    answers = [{status: 429, headers: {'retry-after': '1'}}, {status: 200}];
    const log = recordingLogger();
    const ok = await postWebhook(record(), `${base}/hook`, {log});
    assert.strictEqual(ok, true);
    assert.strictEqual(received.length, 2);
    const gap = received[1].at - received[0].at;
    assert.ok(gap >= 950 && gap < 3000, `waited ${gap} ms`);
    assert.deepStrictEqual(log.lines, []);
  });

  it('waits out a 429 until the HTTP date Retry-After names', async () => {
    // HTTP dates have whole seconds: two seconds ahead is at least one second away.
    const when = new Date(Date.now() + 2000).toUTCString();
    answers = [{status: 429, headers: {'retry-after': when}}, {status: 200}];
    const ok = await postWebhook(record(), `${base}/hook`, {
      log: recordingLogger(),
    });
    assert.strictEqual(ok, true);
    assert.strictEqual(received.length, 2);
    const gap = received[1].at - received[0].at;
    assert.ok(gap >= 900 && gap < 3500, `waited ${gap} ms`);
  });

  it('gives up at once, with a warning, when Retry-After is past the time budget', async () => {
    answers = [{status: 429, headers: {'retry-after': '120'}}];
    const log = recordingLogger();
    const started = Date.now();
    const ok = await postWebhook(record(), `${base}/hook?token=s3cr3t`, {
      log,
    });
    assert.strictEqual(ok, false);
    assert.strictEqual(received.length, 1);
    assert.ok(Date.now() - started < 1000, 'did not wait');
    assert.strictEqual(log.lines.length, 1);
    const line = log.lines[0] as Record<string, unknown>;
    assert.strictEqual(line.severity, 'WARNING');
    assert.match(String(line.error), /HTTP 429; next try in 120 s/);
    assert.ok(!JSON.stringify(line).includes('s3cr3t'));
  });

  it('keeps a series of 429s inside a small budget', async () => {
    answers = Array.from({length: 5}, () => ({
      status: 429,
      headers: {'retry-after': '0'},
    }));
    const started = Date.now();
    const ok = await postWebhook(record(), `${base}/hook`, {
      log: recordingLogger(),
      attempts: 5,
      budgetMs: 300,
    });
    assert.strictEqual(ok, false);
    assert.strictEqual(received.length, 5, 'Retry-After: 0 retries at once');
    assert.ok(Date.now() - started < 1000);
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
    const ok = await postWebhook(record(), url, {
      fetch: leaky,
      log,
      attempts: 2,
    });
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

describe('webhook: Retry-After', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const cases: {name: string; value: string | null; ms: number | undefined}[] =
    [
      {name: 'seconds', value: '5', ms: 5000},
      {name: 'zero', value: '0', ms: 0},
      {name: 'padded', value: ' 2 ', ms: 2000},
      {
        name: 'an HTTP date',
        value: 'Thu, 01 Jan 2026 00:00:30 GMT',
        ms: 30_000,
      },
      {name: 'a date gone by', value: 'Wed, 31 Dec 2025 23:00:00 GMT', ms: 0},
      {name: 'absent', value: null, ms: undefined},
      {name: 'empty', value: '', ms: undefined},
      {name: 'unreadable', value: 'soon', ms: undefined},
      {name: 'negative', value: '-5', ms: undefined},
    ];
  for (const c of cases) {
    it(c.name, () => assert.strictEqual(retryAfterMs(c.value, now), c.ms));
  }
});
