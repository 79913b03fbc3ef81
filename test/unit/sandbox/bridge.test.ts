import * as assert from 'node:assert';
import {
  gcrPayloadsFromEnvelope,
  startBridge,
  type GcrPayload,
} from '../../../sandbox/bridge';

const DIGEST = 'sha256:' + 'ab'.repeat(32);
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('sandbox bridge', () => {
  describe('gcrPayloadsFromEnvelope', () => {
    const cases: {name: string; envelope: unknown; want: GcrPayload[]}[] = [
      {
        name: 'a tagged manifest push',
        envelope: {
          events: [
            {
              action: 'push',
              target: {
                mediaType: MANIFEST,
                digest: DIGEST,
                repository: 'acme/demo/app',
                tag: 'v1',
              },
            },
          ],
        },
        want: [
          {
            action: 'INSERT',
            digest: `us-central1-docker.pkg.dev/acme/demo/app@${DIGEST}`,
            tag: 'us-central1-docker.pkg.dev/acme/demo/app:v1',
          },
        ],
      },
      {
        name: 'an untagged manifest push',
        envelope: {
          events: [
            {
              action: 'push',
              target: {mediaType: MANIFEST, digest: DIGEST, repository: 'a/b'},
            },
          ],
        },
        want: [
          {
            action: 'INSERT',
            digest: `us-central1-docker.pkg.dev/a/b@${DIGEST}`,
          },
        ],
      },
      {
        name: 'blob pushes and pulls are dropped',
        envelope: {
          events: [
            {
              action: 'push',
              target: {
                mediaType: 'application/octet-stream',
                digest: DIGEST,
                repository: 'a/b',
              },
            },
            {
              action: 'pull',
              target: {
                mediaType: MANIFEST,
                digest: DIGEST,
                repository: 'a/b',
                tag: 'v1',
              },
            },
          ],
        },
        want: [],
      },
      {name: 'not an envelope', envelope: {nope: 1}, want: []},
      {name: 'null', envelope: null, want: []},
    ];
    for (const c of cases) {
      it(c.name, () =>
        assert.deepStrictEqual(
          gcrPayloadsFromEnvelope(c.envelope, 'us-central1'),
          c.want,
        ),
      );
    }
  });

  describe('startBridge', () => {
    it('publishes each manifest push, answers 400 to garbage and 503 when publishing fails', async () => {
      const published: GcrPayload[] = [];
      let fail = false;
      const bridge = await startBridge('europe-west1', async p => {
        if (fail) throw new Error('pubsub down');
        published.push(p);
      });
      try {
        const post = (body: string) =>
          fetch(bridge.url, {method: 'POST', body}).then(r => r.status);
        const envelope = JSON.stringify({
          events: [
            {
              action: 'push',
              target: {mediaType: MANIFEST, digest: DIGEST, repository: 'x/y'},
            },
          ],
        });
        assert.strictEqual(await post(envelope), 200);
        assert.deepStrictEqual(published, [
          {
            action: 'INSERT',
            digest: `europe-west1-docker.pkg.dev/x/y@${DIGEST}`,
          },
        ]);
        assert.strictEqual(await post('{not json'), 400);
        fail = true;
        assert.strictEqual(await post(envelope), 503);
        assert.strictEqual(published.length, 1);
      } finally {
        await bridge.close();
      }
    });
  });
});
