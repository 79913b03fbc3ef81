import * as assert from 'node:assert';
import {parseConfig} from '../../../shared/config';
import {parseSandboxArgs, sandboxConfig} from '../../../sandbox/main';

describe('sandbox', () => {
  it('parses --once, --location and --timeout', () => {
    assert.deepStrictEqual(parseSandboxArgs([]), {
      once: false,
      location: 'us-central1',
      timeoutMs: 180_000,
    });
    assert.deepStrictEqual(
      parseSandboxArgs([
        '--once',
        '--location',
        'europe-west1',
        '--timeout',
        '30',
      ]),
      {
        once: true,
        location: 'europe-west1',
        timeoutMs: 30_000,
      },
    );
  });

  it('writes a mappings file that validates, for any location', () => {
    for (const location of ['us-central1', 'europe-west4']) {
      const reading = parseConfig(
        sandboxConfig(location),
        `sandbox-${location}.yaml`,
      );
      assert.deepStrictEqual(reading.errors, []);
      assert.deepStrictEqual(
        reading.config?.mappings.map(m => [m.name, m.streaming, m.supersede]),
        [
          ['demo', 'auto', 'none'],
          ['strict', 'required', 'none'],
          ['queued', 'auto', 'queued'],
        ],
      );
    }
  });
});
