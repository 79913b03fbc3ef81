import * as assert from 'node:assert';
import {PUBSUB_MESSAGE_TYPE as PUBSUB} from '../../shared/cloud_event';
import {decodeImagePush} from '../../shared/events';
import {
  HOSTILE_TAGS,
  OTHER_TYPES,
  hostileDigests,
} from '../support/hostile_events';

const IMAGE = 'us-west1-docker.pkg.dev/my-project/ml/trainer';
const DIGEST = 'sha256:' + '3f'.repeat(32);
const PUBLISHED = '2024-05-01T12:00:00.123Z';

const b64 = (text: string) => Buffer.from(text).toString('base64');

function event(payload: unknown, message: Record<string, unknown> = {}) {
  return {
    id: 'evt-1',
    type: PUBSUB,
    data: {
      subscription: 'projects/my-project/subscriptions/eventarc-sub',
      message: {
        data: b64(
          typeof payload === 'string' ? payload : JSON.stringify(payload),
        ),
        messageId: 'msg-1',
        publishTime: PUBLISHED,
        attributes: {},
        ...message,
      },
    },
  };
}

describe('decodeImagePush', () => {
  describe('pushes', () => {
    const cases = [
      {
        name: 'untagged push',
        event: event({action: 'INSERT', digest: `${IMAGE}@${DIGEST}`}),
        tag: undefined,
      },
      {
        name: 'tagged push',
        event: event({
          action: 'INSERT',
          digest: `${IMAGE}@${DIGEST}`,
          tag: `${IMAGE}:1.1`,
        }),
        tag: '1.1',
      },
      {
        name: 'a tag at the grammar limits: 128 characters, "_" first',
        event: event({
          action: 'INSERT',
          digest: `${IMAGE}@${DIGEST}`,
          tag: `${IMAGE}:_${'a.B-9'.repeat(25)}xx`,
        }),
        tag: `_${'a.B-9'.repeat(25)}xx`,
      },
      {
        name: 'data as a JSON string',
        event: {
          id: 'evt-1',
          type: PUBSUB,
          data: JSON.stringify(
            event({action: 'INSERT', digest: `${IMAGE}@${DIGEST}`}).data,
          ),
        },
        tag: undefined,
      },
      {
        name: 'data as a Buffer',
        event: {
          id: 'evt-1',
          type: PUBSUB,
          data: Buffer.from(
            JSON.stringify(
              event({
                action: 'INSERT',
                digest: `${IMAGE}@${DIGEST}`,
                tag: `${IMAGE}:v2`,
              }).data,
            ),
          ),
        },
        tag: 'v2',
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const d = decodeImagePush(c.event);
        assert.strictEqual(d.kind, 'push', JSON.stringify(d));
        if (d.kind !== 'push') return;
        assert.strictEqual(d.push.eventId, 'evt-1');
        assert.strictEqual(d.push.digestRef.digest, DIGEST);
        assert.strictEqual(
          `${d.push.digestRef.host}/${d.push.digestRef.path}`,
          IMAGE,
        );
        assert.strictEqual(d.push.digestRef.tag, undefined);
        assert.strictEqual(d.push.digestRef.location, 'us-west1');
        assert.strictEqual(d.push.tag, c.tag);
        assert.strictEqual(d.push.publishedAt.toISOString(), PUBLISHED);
      });
    }

    it('falls back to the messageId when the event has no id', () => {
      const e = event({action: 'INSERT', digest: `${IMAGE}@${DIGEST}`});
      const d = decodeImagePush({type: e.type, data: e.data});
      assert.strictEqual(d.kind === 'push' && d.push.eventId, 'msg-1');
    });

    it('drops a tag written into the digest reference', () => {
      const d = decodeImagePush(
        event({action: 'INSERT', digest: `${IMAGE}:1.1@${DIGEST}`}),
      );
      assert.strictEqual(d.kind, 'push');
      if (d.kind === 'push')
        assert.strictEqual(d.push.digestRef.tag, undefined);
    });
  });

  describe('ignored events', () => {
    const cases: {
      name: string;
      event: {id?: string; type?: string; data?: unknown};
      reason: RegExp;
    }[] = [
      {name: 'no data', event: {id: 'evt-1', type: PUBSUB}, reason: /no data/},
      {
        name: 'data not JSON',
        event: {id: 'evt-1', type: PUBSUB, data: 'not json'},
        reason: /event data is not JSON/,
      },
      {
        name: 'data an array',
        event: {id: 'evt-1', type: PUBSUB, data: []},
        reason: /not an object/,
      },
      {
        name: 'no message',
        event: {id: 'evt-1', type: PUBSUB, data: {}},
        reason: /no data\.message/,
      },
      {
        name: 'no publishTime',
        event: event(
          {action: 'INSERT', digest: `${IMAGE}@${DIGEST}`},
          {publishTime: undefined},
        ),
        reason: /no data\.message\.publishTime/,
      },
      {
        name: 'bad publishTime',
        event: event(
          {action: 'INSERT', digest: `${IMAGE}@${DIGEST}`},
          {publishTime: 'yesterday'},
        ),
        reason: /"yesterday" is not a timestamp/,
      },
      {
        name: 'message data missing',
        event: event({}, {data: undefined}),
        reason: /data\.message\.data is missing/,
      },
      {
        name: 'message data not a string',
        event: event({}, {data: 42}),
        reason: /data\.message\.data is missing or not a base64 string/,
      },
      {
        name: 'bad base64',
        event: event({}, {data: '!!!not base64!!!'}),
        reason: /not valid base64/,
      },
      {
        name: 'payload not JSON',
        event: event('{"action":'),
        reason: /notification is not JSON/,
      },
      {
        name: 'payload not an object',
        event: event('"INSERT"'),
        reason: /not a JSON object/,
      },
      {
        name: 'no action',
        event: event({digest: `${IMAGE}@${DIGEST}`}),
        reason: /no action/,
      },
      {
        name: 'unknown action',
        event: event({action: 'UPDATE', digest: `${IMAGE}@${DIGEST}`}),
        reason: /unknown action "UPDATE"/,
      },
      {
        name: 'DELETE',
        event: event({action: 'DELETE', tag: `${IMAGE}:1.1`}),
        reason: /action DELETE starts no run/,
      },
      {
        name: 'INSERT without a digest',
        event: event({action: 'INSERT', tag: `${IMAGE}:1.1`}),
        reason: /INSERT without a digest/,
      },
      {
        name: 'digest of the wrong type',
        event: event({action: 'INSERT', digest: 42}),
        reason: /digest is not a string/,
      },
      {
        name: 'tag of the wrong type',
        event: event({
          action: 'INSERT',
          digest: `${IMAGE}@${DIGEST}`,
          tag: ['1.1'],
        }),
        reason: /tag is not a string/,
      },
      {
        name: 'digest not a reference',
        event: event({action: 'INSERT', digest: 'Not A Reference'}),
        reason: /^digest: invalid image reference/,
      },
      {
        name: 'digest reference without a digest',
        event: event({action: 'INSERT', digest: `${IMAGE}:1.1`}),
        reason: /is not pinned by a digest/,
      },
      {
        name: 'tag not a reference',
        event: event({
          action: 'INSERT',
          digest: `${IMAGE}@${DIGEST}`,
          tag: 'UPPER CASE',
        }),
        reason: /^tag: invalid image reference/,
      },
      {
        name: 'a tag naming another image',
        event: event({
          action: 'INSERT',
          digest: `${IMAGE}@${DIGEST}`,
          tag: 'us-west1-docker.pkg.dev/my-project/ml/other:1.1',
        }),
        reason: /names another image than the digest/,
      },
      {
        name: 'a tag reference without a tag',
        event: event({
          action: 'INSERT',
          digest: `${IMAGE}@${DIGEST}`,
          tag: IMAGE,
        }),
        reason: /is not IMAGE:TAG/,
      },
      ...HOSTILE_TAGS.map(tag => ({
        name: `hostile tag ${JSON.stringify(tag).slice(0, 40)}`,
        event: event({
          action: 'INSERT',
          digest: `${IMAGE}@${DIGEST}`,
          tag: `${IMAGE}:${tag}`,
        }),
        reason:
          /^tag: invalid image reference|is not IMAGE:TAG|names another image/,
      })),
      ...hostileDigests(IMAGE, DIGEST).map(digest => ({
        name: `hostile digest reference ${JSON.stringify(digest).slice(0, 40)}`,
        event: event({action: 'INSERT', digest}),
        reason: /^digest: invalid image reference|is not pinned by a digest/,
      })),
      ...OTHER_TYPES.map(type => ({
        name: `a valid push in a CloudEvent of type ${JSON.stringify(type)}`,
        event: {
          ...event({action: 'INSERT', digest: `${IMAGE}@${DIGEST}`}),
          type,
        },
        reason:
          /^the CloudEvent type is .*, not google\.cloud\.pubsub\.topic\.v1\.messagePublished$/,
      })),
    ];
    for (const c of cases) {
      it(c.name, () => {
        const d = decodeImagePush(c.event);
        assert.strictEqual(d.kind, 'ignore', JSON.stringify(d));
        if (d.kind !== 'ignore') return;
        assert.match(d.reason, c.reason);
        assert.strictEqual(d.eventId, 'evt-1');
      });
    }
  });
});
