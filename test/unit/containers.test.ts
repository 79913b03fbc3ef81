import * as assert from 'node:assert';
import {parseConfig} from '../../shared/config';
import {
  containerRunnables,
  isUnset,
  unstreamableFields,
} from '../../shared/containers';
import {parseImageRef} from '../../shared/image_ref';
import {jobToProto3JSON} from '../../shared/batch/convert';
import {planPush} from '../../shared/plan';
import {streamingVerdict} from '../../shared/verdict';
import {imageFacts} from '../support/facts';

const IMAGE = 'us-central1-docker.pkg.dev/p/ml/trainer';
const DIGEST = 'sha256:' + 'a'.repeat(64);

describe('container fields: validator, verdict and plan agree', () => {
  // Each case is one extra container field, written as YAML; `set` says whether it is set
  // beyond its proto3 default, which is what decides streaming everywhere.
  const cases = [
    {
      name: 'blockExternalNetwork: false',
      field: 'blockExternalNetwork: false',
      set: false,
    },
    {
      name: 'blockExternalNetwork: true',
      field: 'blockExternalNetwork: true',
      set: true,
    },
    {name: 'options: ""', field: 'options: ""', set: false},
    {
      name: 'options: --shm-size=2g',
      field: 'options: --shm-size=2g',
      set: true,
    },
    {name: 'options: null', field: 'options: null', set: false},
    {name: 'username: ""', field: 'username: ""', set: false},
    {name: 'username: bot', field: 'username: bot', set: true},
    {name: 'password: secret', field: 'password: secret', set: true},
    {name: 'commands: [] (allowed)', field: 'commands: []', set: false},
    {name: 'volumes: [/a:/a] (allowed)', field: 'volumes: [/a:/a]', set: false},
  ];
  for (const c of cases) {
    it(c.name, () => {
      const yaml = (streaming: string) => `mappings:
  - name: m
    match: {image: ${IMAGE}}
    streaming: ${streaming}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {${c.field}}}]}}]}
`;
      const required = parseConfig(yaml('required'), 'c.yaml');
      assert.strictEqual(
        required.errors.length > 0,
        c.set,
        `validate under required: ${required.errors.map(e => e.message).join('; ')}`,
      );

      const auto = parseConfig(yaml('auto'), 'c.yaml');
      assert.deepStrictEqual(auto.errors, []);
      assert.strictEqual(auto.warnings.length > 0, c.set, 'warned under auto');
      const mapping = auto.config!.mappings[0];
      const verdict = streamingVerdict(
        imageFacts(parseImageRef(`${IMAGE}@${DIGEST}`), DIGEST),
        {
          region: 'us-central1',
          containers: containerRunnables(mapping.job),
        },
      );
      assert.strictEqual(verdict.streamable, !c.set, JSON.stringify(verdict));

      const [run] = planPush(
        {digestRef: parseImageRef(`${IMAGE}@${DIGEST}`)},
        auto.config!,
        imageFacts(parseImageRef(`${IMAGE}@${DIGEST}`), DIGEST),
        'p',
      );
      assert.strictEqual(run.kind, 'launch');
      const job = jobToProto3JSON(run.request.job) as {
        taskGroups: {
          taskSpec: {
            runnables: {container: {enableImageStreaming?: boolean}}[];
          };
        }[];
      };
      assert.strictEqual(
        job.taskGroups[0].taskSpec.runnables[0].container
          .enableImageStreaming ?? false,
        !c.set,
        'plan streams',
      );
    });
  }
});

describe('isUnset and unstreamableFields', () => {
  it('reads proto3 defaults as unset', () => {
    for (const v of [undefined, null, false, 0, '', '0', [], {}])
      assert.strictEqual(isUnset(v), true, JSON.stringify(v));
    for (const v of [true, 1, 'x', ['a'], {a: 1}])
      assert.strictEqual(isUnset(v), false, JSON.stringify(v));
  });

  it('names only the set fields streaming does not allow', () => {
    assert.deepStrictEqual(
      unstreamableFields({
        imageUri: 'x',
        commands: ['a'],
        options: '--x',
        username: '',
        blockExternalNetwork: false,
        password: 'p',
      }),
      ['options', 'password'],
    );
  });
});
