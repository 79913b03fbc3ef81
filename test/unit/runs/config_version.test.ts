import * as assert from 'node:assert';
import {formatRunDetail} from '../../../shared/cli/runs_command';
import {formatRunMessage} from '../../../shared/notify';
import {configVersionLines} from '../../../shared/runs/config_version';
import {runRecord} from '../../support/fixtures';

describe('configVersion in what people read', () => {
  const cases = [
    {name: 'a live version', configVersion: 3, text: 'live version 3'},
    {name: 'the bundled file', configVersion: 'bundled', text: 'bundled file'},
  ] as const;
  for (const c of cases) {
    it(`names ${c.name} in the notification and in runs show`, () => {
      const record = runRecord(undefined, {configVersion: c.configVersion});
      assert.match(
        formatRunMessage(record),
        new RegExp(`^Config: ${c.text}$`, 'm'),
      );
      assert.match(
        formatRunDetail(record),
        new RegExp(`config\\s+${c.text}\\n`),
      );
    });
  }

  it('says nothing for a record from before live versions', () => {
    assert.deepStrictEqual(configVersionLines({}), []);
    assert.doesNotMatch(formatRunMessage(runRecord()), /Config:/);
  });
});
