import * as assert from 'node:assert';
import {ConfigError} from '../../shared/errors';
import {parseSettings} from '../../shared/settings';

describe('parseSettings', () => {
  it('fills the documented defaults from an empty environment', () => {
    assert.deepStrictEqual(parseSettings({}), {
      project: '',
      configFile: 'config/pushrun.yaml',
      configTtlMs: 30_000,
      maxEventAgeMs: 3_600_000,
      reconcileAfterMs: 600_000,
    });
  });

  it('reads every variable', () => {
    assert.deepStrictEqual(
      parseSettings({
        GOOGLE_CLOUD_PROJECT: 'p',
        PUSHRUN_CONFIG: 'c.yaml',
        PUSHRUN_CONFIG_TTL: '0s',
        PUSHRUN_REGISTRY_ENDPOINT: 'http://127.0.0.1:5000',
        PUSHRUN_BATCH_ENDPOINT: '[::1]:7000',
        PUBSUB_EMULATOR_HOST: '127.0.0.1:8085',
        FIRESTORE_EMULATOR_HOST: '127.0.0.1:8080',
        PUSHRUN_WEBHOOK_URL: 'https://chat.example/hook',
        PUSHRUN_MAX_EVENT_AGE: '90s',
        PUSHRUN_RECONCILE_AFTER: '0s',
        PUSHRUN_JOB_SERVICE_ACCOUNT: 'jobs@p.iam.gserviceaccount.com',
      }),
      {
        project: 'p',
        configFile: 'c.yaml',
        configTtlMs: 0,
        registryEndpoint: 'http://127.0.0.1:5000',
        batchEndpoint: {host: '[::1]', port: 7000},
        pubsubEmulatorHost: '127.0.0.1:8085',
        firestoreEmulatorHost: '127.0.0.1:8080',
        webhookUrl: 'https://chat.example/hook',
        maxEventAgeMs: 90_000,
        reconcileAfterMs: 0,
        jobServiceAccount: 'jobs@p.iam.gserviceaccount.com',
      },
    );
  });

  it('falls back to GCLOUD_PROJECT and treats blank values as unset', () => {
    const s = parseSettings({
      GCLOUD_PROJECT: 'legacy',
      PUSHRUN_CONFIG: '  ',
      PUSHRUN_WEBHOOK_URL: '',
    });
    assert.strictEqual(s.project, 'legacy');
    assert.strictEqual(s.configFile, 'config/pushrun.yaml');
    assert.strictEqual(s.webhookUrl, undefined);
  });

  const bad = [
    {
      name: 'a duration without a unit',
      env: {PUSHRUN_MAX_EVENT_AGE: '60'},
      want: /PUSHRUN_MAX_EVENT_AGE: invalid duration "60"/,
    },
    {
      name: 'a TTL in words',
      env: {PUSHRUN_CONFIG_TTL: 'soon'},
      want: /PUSHRUN_CONFIG_TTL/,
    },
    {
      name: 'a registry endpoint that is no base URL',
      env: {PUSHRUN_REGISTRY_ENDPOINT: '127.0.0.1:5000'},
      want: /must be a base URL/,
    },
    {
      name: 'a Batch endpoint without a port',
      env: {PUSHRUN_BATCH_ENDPOINT: 'localhost'},
      want: /must be host:port/,
    },
  ];
  for (const c of bad) {
    it(`refuses ${c.name}`, () =>
      assert.throws(
        () => parseSettings(c.env),
        (e: Error) => e instanceof ConfigError && c.want.test(e.message),
      ));
  }
});
