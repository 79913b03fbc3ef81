import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import {fromProto3JSON} from 'proto3-json-serializer';
import {
  batchJobType,
  canonicalJobTemplate,
  jobTemplateProblems,
  jobToProto3JSON,
  protoFieldName,
  toJobMessage,
  writtenPath,
} from '../../shared/batch/convert';
import {oneofConflict} from '../../sandbox/batch_wire';
import {GUIDE_JOB, RICH_JOB} from '../support/templates';

describe('jobTemplateProblems', () => {
  const cases = [
    {
      name: 'misspelled field',
      job: {taskGroups: [{taskSpec: {maxRunDuraton: '1s'}}]},
      want: /unknown field "maxRunDuraton" in Job.taskGroups\[0\].taskSpec$/,
    },
    {
      name: 'wrong case, with a hint',
      job: {TaskGroups: []},
      want: /unknown field "TaskGroups" in Job \(write "taskGroups"\)/,
    },
    {
      name: 'duration as a number',
      job: {taskGroups: [{taskSpec: {maxRunDuration: 60}}]},
      want: /maxRunDuration must be a string such as "3600s"/,
    },
    {
      name: 'unknown enum name',
      job: {logsPolicy: {destination: 'STDOUT'}},
      want: /destination must be one of .*CLOUD_LOGGING/,
    },
    {
      name: 'int64 as a word',
      job: {taskGroups: [{taskCount: 'two'}]},
      want: /taskCount must be a whole number \(int64\)/,
    },
    {
      name: 'int64 as a fraction',
      job: {taskGroups: [{taskCount: 1.5}]},
      want: /taskCount must be a whole number \(int64\)/,
    },
    {
      name: 'int64 as a fraction in a string',
      job: {taskGroups: [{taskCount: '1.5'}]},
      want: /taskCount must be a whole number \(int64\)/,
    },
    {
      name: 'int64 past 2^53 as a number',
      job: {priority: 2 ** 60},
      want: /priority is past 2\^53.*write it in quotes/,
    },
    {
      name: 'int64 past its range as a string',
      job: {priority: '9223372036854775808'},
      want: /priority must be between -9223372036854775808 and 9223372036854775807 \(int64\), not 9223372036854775808/,
    },
    {
      name: 'int32 past its range',
      job: {taskGroups: [{taskSpec: {maxRetryCount: 3_000_000_000}}]},
      want: /maxRetryCount must be between -2147483648 and 2147483647 \(int32\), not 3000000000/,
    },
    {
      name: 'int32 in a list past its range',
      job: {
        taskGroups: [
          {
            taskSpec: {
              lifecyclePolicies: [{actionCondition: {exitCodes: [1, 2 ** 31]}}],
            },
          },
        ],
      },
      want: /exitCodes\[1\] must be between/,
    },
    {
      name: 'list as a string',
      job: {
        taskGroups: [{taskSpec: {runnables: [{container: {commands: 'go'}}]}}],
      },
      want: /commands must be a list/,
    },
    {
      name: 'null inside a list',
      job: {taskGroups: [null]},
      want: /Job.taskGroups\[0\] must not be null/,
    },
    {
      name: 'message as a string',
      job: {allocationPolicy: 'big'},
      want: /Job.allocationPolicy must be an object/,
    },
    {
      name: 'label value not a string',
      job: {labels: {n: 1}},
      want: /Job.labels.n must be a string/,
    },
    {
      name: 'two members of one oneof',
      job: {
        taskGroups: [
          {taskSpec: {runnables: [{script: {path: '/a.sh', text: 'echo'}}]}},
        ],
      },
      want: /sets both "path" and "text", but a Batch job takes only one of "path", "text"/,
    },
    {
      name: 'two members of one oneof, under their proto names',
      job: {
        taskGroups: [
          {
            task_spec: {
              volumes: [{gcs: {remote_path: 'b'}, device_name: 'd'}],
            },
          },
        ],
      },
      want: /sets both "gcs" and "device_name"/,
    },
    {
      name: 'one field under both names',
      job: {taskGroups: [], task_groups: []},
      want: /Job sets "taskGroups" twice, as "taskGroups" and "task_groups"/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const problems = jobTemplateProblems(c.job);
      assert.strictEqual(problems.length, 1, JSON.stringify(problems));
      assert.match(problems[0].message, c.want);
    });
  }

  const accepted = [
    {name: "the guide's job", job: GUIDE_JOB},
    {name: 'the rich template', job: RICH_JOB},
    {
      name: 'proto field names',
      job: {task_groups: [{task_spec: {max_run_duration: '60s'}}]},
    },
    {
      name: 'null for a default, and a oneof member beside a null one',
      job: {
        priority: null,
        allocationPolicy: {
          instances: [{policy: {machineType: 'e2'}, instanceTemplate: null}],
        },
      },
    },
    {
      name: 'int64 extremes as strings',
      job: {priority: '-9223372036854775808'},
    },
    {name: 'enum by number', job: {logsPolicy: {destination: 1}}},
  ];
  for (const c of accepted) {
    it(`accepts ${c.name}`, () => {
      assert.deepStrictEqual(jobTemplateProblems(c.job), []);
      assert.ok(toJobMessage(canonicalJobTemplate(c.job)));
    });
  }
});

describe('protoFieldName', () => {
  it("gives every Batch field's name as its .proto file writes it", () => {
    const protos = path.dirname(
      require.resolve('@google-cloud/batch/build/protos/protos.json'),
    );
    const gax = path.join(
      path.dirname(require.resolve('google-gax')),
      '..',
      'protos',
    );
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) =>
      [protos, gax]
        .map(d => path.join(d, target))
        .find(p => fs.existsSync(p)) ?? target;
    root.loadSync('google/cloud/batch/v1/batch.proto', {keepCase: true});
    const written = root.lookup('google.cloud.batch.v1') as protobuf.Namespace;
    const camel = batchJobType().root.lookup(
      'google.cloud.batch.v1',
    ) as protobuf.Namespace;
    let fields = 0;
    const visit = (
      ns: protobuf.NamespaceBase,
      twin: protobuf.NamespaceBase,
    ) => {
      for (const o of ns.nestedArray) {
        const other = twin.get(o.name) as protobuf.NamespaceBase;
        if (o instanceof protobuf.Type) {
          const names = (other as protobuf.Type).fieldsArray.map(f =>
            protoFieldName(f.name),
          );
          for (const f of o.fieldsArray) {
            fields++;
            assert.ok(names.includes(f.name), `${o.fullName}.${f.name}`);
          }
        }
        if (o instanceof protobuf.Namespace) visit(o, other);
      }
    };
    visit(written, camel);
    assert.ok(fields > 100, `${fields} fields checked`);
  });
});

describe('canonicalJobTemplate', () => {
  it('writes JSON names, drops nulls, and leaves map keys and free JSON alone', () => {
    assert.deepStrictEqual(
      canonicalJobTemplate({
        task_groups: [
          {task_spec: {environments: {MY_VAR: 'x'}}, parallelism: null},
        ],
        labels: {some_label: 'v'},
        allocation_policy: null,
      }),
      {
        taskGroups: [{taskSpec: {environments: {MY_VAR: 'x'}}}],
        labels: {some_label: 'v'},
      },
    );
  });
});

describe('writtenPath', () => {
  it('finds each step under the name the template used', () => {
    const written = {task_groups: [{taskSpec: {runnables: [{container: {}}]}}]};
    assert.deepStrictEqual(
      writtenPath(written, [
        'taskGroups',
        0,
        'taskSpec',
        'runnables',
        0,
        'container',
      ]),
      ['task_groups', 0, 'taskSpec', 'runnables', 0, 'container'],
    );
  });
});

describe('toJobMessage', () => {
  // The Batch client's own copy of the protos, as google-gax loads them: a second root.
  const clientJob = protobuf.Root.fromJSON(
    require('@google-cloud/batch/build/protos/protos.json'),
  ).lookupType('google.cloud.batch.v1.Job');
  const onTheWire = (job: unknown) =>
    clientJob.encode(clientJob.fromObject(job as object)).finish();

  it('puts one member of each oneof on the wire, as the client encodes it', () => {
    const bytes = onTheWire(toJobMessage(canonicalJobTemplate(RICH_JOB)));
    assert.strictEqual(
      oneofConflict('google.cloud.batch.v1.Job', bytes),
      undefined,
    );
  });

  it('a protobufjs message instance would put empty members beside the real ones', () => {
    // The way the job used to be handed over, kept here so the check above can fail.
    const instance = fromProto3JSON(batchJobType(), RICH_JOB as never);
    assert.match(
      String(oneofConflict('google.cloud.batch.v1.Job', onTheWire(instance))),
      /^Job\..* sets \w+ and \w+ of oneof \w+; Batch reads only the last$/,
    );
  });

  it('holds only the fields the template sets, in the forms the client reads', () => {
    // The guide writes int64 as strings and enums by name, the forms the client reads.
    const message = toJobMessage(canonicalJobTemplate(GUIDE_JOB));
    assert.deepStrictEqual(message, GUIDE_JOB);
  });

  it('round-trips to proto3 JSON', () => {
    const json = jobToProto3JSON(toJobMessage(canonicalJobTemplate(RICH_JOB)));
    assert.strictEqual(
      (json as {taskGroups: {taskSpec: {maxRunDuration: string}}[]})
        .taskGroups[0].taskSpec.maxRunDuration,
      '7200.500s',
    );
    assert.deepStrictEqual(
      (json as {allocationPolicy: unknown}).allocationPolicy,
      (RICH_JOB as {allocationPolicy: unknown}).allocationPolicy,
    );
  });
});
