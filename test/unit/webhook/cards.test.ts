/**
 * The card bodies against each service's documented shape: Google Chat `cardsV2`
 * (CardWithId → Card → header, sections → widgets) and Slack Block Kit (header, section
 * mrkdwn, context, actions with a url button), for every notification type, and the size
 * limits of both.
 */
import * as assert from 'node:assert';
import {SKIPPED_PUSH, runRecord} from '../../support/fixtures';
import type {RunRecord} from '../../../shared/runs/record';
import {LIMITS, webhookBody} from '../../../shared/webhook/cards';
import {formatRunMessage} from '../../../shared/webhook/message';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000);
const CONSOLE =
  'https://console.cloud.google.com/batch/jobsDetail/regions/us-central1/jobs/trainer-0123456789ab/details?project=p';

function record(extra: Partial<RunRecord> = {}): RunRecord {
  return runRecord('trainer-0123456789ab', {
    digest: 'sha256:0123456789abcdef0123456789abcdef',
    tags: ['v1.2'],
    state: 'SUCCEEDED',
    pushedAt: at(0),
    launchedAt: at(4),
    startedAt: at(45),
    finishedAt: at(100),
    ...extra,
  });
}

interface Case {
  readonly name: string;
  readonly r: RunRecord;
  readonly title: string;
  /** Texts that must appear somewhere in the card (values of the widgets or blocks). */
  readonly shows: readonly string[];
  readonly button: boolean;
}

const CASES: Case[] = [
  {
    name: 'run.succeeded, streamed',
    r: record(),
    title: 'trainer succeeded',
    shows: [
      'us-central1-docker.pkg.dev/p/ml/trainer:v1.2 (0123456789ab)',
      'yes',
      'push to launch 4s, running to end 55s',
      "started in 41 s; this mapping's pulled runs: median 3 min 10 s",
    ],
    button: true,
  },
  {
    name: 'run.failed, pulled, with why not',
    r: record({
      state: 'FAILED',
      streaming: {
        requested: 'auto',
        enabled: false,
        reasons: [
          {code: 'EMPTY_LAYER', message: 'layer 2 <empty> & more'},
          {code: 'LOCATION_MISMATCH', message: 'image in europe'},
        ],
      },
    }),
    title: 'trainer failed',
    shows: [
      'no (EMPTY_LAYER, LOCATION_MISMATCH)',
      'LOCATION_MISMATCH: image in europe',
    ],
    button: true,
  },
  {
    name: 'run.skipped, with its code and reason',
    r: record({
      ...SKIPPED_PUSH,
      skipCode: 'CONCURRENCY_LIMITED',
      skipReason: '2 of 2 runs are still going',
    }),
    title: 'trainer was skipped',
    shows: ['2 of 2 runs are still going (CONCURRENCY_LIMITED)'],
    button: false,
  },
  {
    name: 'run.superseded, naming the newer job',
    r: record({
      state: 'CANCELLED',
      supersededBy: 'trainer-fedcba987654',
      startedAt: undefined,
    }),
    title: 'trainer was superseded',
    shows: ['trainer-fedcba987654'],
    button: true,
  },
];

const context = {pulledStartupMedianSeconds: 190};

type Json = Record<string, unknown>;
const strings = (x: unknown): string[] =>
  typeof x === 'string'
    ? [x]
    : x && typeof x === 'object'
      ? Object.values(x).flatMap(strings)
      : [];
const unescape = (t: string) =>
  t.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

describe('webhook cards: Google Chat cardsV2', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const body = webhookBody(c.r, 'google-chat', context) as Json;
      assert.deepStrictEqual(Object.keys(body).sort(), [
        'cardsV2',
        'fallbackText',
        'text',
      ]);
      assert.strictEqual(body.fallbackText, formatRunMessage(c.r, context));
      assert.strictEqual(
        body.text,
        formatRunMessage(c.r, context).split('\n')[0],
      );
      const cards = body.cardsV2 as Json[];
      assert.strictEqual(cards.length, 1);
      assert.strictEqual(cards[0].cardId, `run-${c.r.id}`);
      const card = cards[0].card as {
        header: Json;
        sections: {widgets: Json[]}[];
      };
      assert.deepStrictEqual(Object.keys(card).sort(), ['header', 'sections']);
      assert.strictEqual(card.header.title, c.title);
      assert.strictEqual(card.header.subtitle, c.r.id);
      const widgets = card.sections.flatMap(s => s.widgets);
      for (const w of widgets) {
        const kinds = Object.keys(w);
        assert.strictEqual(kinds.length, 1, JSON.stringify(w));
        assert.ok(
          ['decoratedText', 'textParagraph', 'buttonList'].includes(kinds[0]),
          kinds[0],
        );
        if (kinds[0] === 'decoratedText') {
          const d = w.decoratedText as Json;
          assert.strictEqual(typeof d.topLabel, 'string');
          assert.strictEqual(typeof d.text, 'string');
        }
      }
      const texts = strings(widgets).map(unescape).join('\n');
      for (const s of c.shows) assert.ok(texts.includes(s), `${s} in ${texts}`);
      const buttons = widgets
        .filter(w => 'buttonList' in w)
        .flatMap(w => (w.buttonList as {buttons: Json[]}).buttons);
      assert.deepStrictEqual(
        buttons,
        c.button
          ? [
              {
                text: 'Open in Cloud Console',
                onClick: {openLink: {url: CONSOLE}},
              },
            ]
          : [],
      );
    });
  }

  it('escapes the HTML that card text reads', () => {
    const body = webhookBody(CASES[1].r, 'google-chat') as Json;
    const text = JSON.stringify(body.cardsV2);
    assert.ok(text.includes('layer 2 &lt;empty&gt; &amp; more'), text);
    assert.ok(!text.includes('<empty>'));
  });

  it('stays under 32,000 bytes: an oversized card gives way to its text', () => {
    const r = record({
      streaming: {
        requested: 'auto',
        enabled: false,
        reasons: Array.from({length: 40}, (_, i) => ({
          code: 'DUPLICATE_LAYER',
          message: `layer ${i} ` + 'x'.repeat(2000),
        })),
      },
      skipReason: 'y'.repeat(40_000),
    });
    const body = webhookBody(r, 'google-chat');
    const bytes = Buffer.byteLength(JSON.stringify(body));
    assert.ok(bytes <= LIMITS.chatMessageBytes, `${bytes} bytes`);
    assert.ok(typeof body.text === 'string' && body.text.length > 0);
  });

  it('lists at most ten reasons and counts the rest', () => {
    const r = record({
      streaming: {
        requested: 'auto',
        enabled: false,
        reasons: Array.from({length: 14}, (_, i) => ({
          code: 'EMPTY_LAYER',
          message: `layer ${i}`,
        })),
      },
    });
    const text = JSON.stringify(webhookBody(r, 'google-chat'));
    assert.ok(text.includes('EMPTY_LAYER: layer 9'));
    assert.ok(!text.includes('EMPTY_LAYER: layer 10'));
    assert.ok(text.includes('… and 4 more'));
  });
});

describe('webhook cards: Slack blocks', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const body = webhookBody(c.r, 'slack', context) as {
        text: string;
        blocks: Json[];
      };
      assert.deepStrictEqual(Object.keys(body).sort(), ['blocks', 'text']);
      assert.strictEqual(body.text, formatRunMessage(c.r, context));
      const types = body.blocks.map(b => b.type);
      assert.strictEqual(types[0], 'header');
      assert.deepStrictEqual(body.blocks[0].text, {
        type: 'plain_text',
        text: c.title,
      });
      assert.strictEqual(types[1], 'section');
      for (const b of body.blocks) {
        assert.ok(
          ['header', 'section', 'context', 'actions'].includes(
            b.type as string,
          ),
        );
        if (b.type === 'section')
          assert.strictEqual((b.text as Json).type, 'mrkdwn');
        if (b.type === 'context') {
          const els = b.elements as Json[];
          assert.ok(els.length >= 1 && els.length <= 10);
          for (const e of els) assert.strictEqual(e.type, 'mrkdwn');
        }
      }
      const texts = strings(body.blocks).map(unescape).join('\n');
      for (const s of c.shows) assert.ok(texts.includes(s), `${s} in ${texts}`);
      const actions = body.blocks.filter(b => b.type === 'actions');
      assert.deepStrictEqual(
        actions,
        c.button
          ? [
              {
                type: 'actions',
                elements: [
                  {
                    type: 'button',
                    text: {type: 'plain_text', text: 'Open in Cloud Console'},
                    url: CONSOLE,
                  },
                ],
              },
            ]
          : [],
      );
    });
  }

  it('keeps to the limits of headers, sections, blocks and text', () => {
    const long = 'm'.repeat(200);
    const r = record({
      mapping: long,
      state: 'SKIPPED',
      skipReason: 'z'.repeat(50_000),
      streaming: {
        requested: 'auto',
        enabled: false,
        reasons: Array.from({length: 30}, (_, i) => ({
          code: 'EMPTY_LAYER',
          message: `layer ${i} ` + 'w'.repeat(500),
        })),
      },
    });
    const body = webhookBody(r, 'slack') as {text: string; blocks: Json[]};
    assert.ok(body.text.length <= LIMITS.slackText);
    assert.ok(body.blocks.length <= 50);
    const header = (body.blocks[0].text as Json).text as string;
    assert.strictEqual(header.length, LIMITS.slackHeader);
    assert.ok(header.endsWith('…'));
    for (const b of body.blocks.filter(x => x.type === 'section'))
      assert.ok(
        ((b.text as Json).text as string).length <= LIMITS.slackSection,
      );
  });

  it('escapes what mrkdwn reads as markup', () => {
    const body = webhookBody(CASES[1].r, 'slack') as {blocks: Json[]};
    const text = JSON.stringify(body.blocks);
    assert.ok(text.includes('layer 2 &lt;empty&gt; &amp; more'), text);
  });
});
