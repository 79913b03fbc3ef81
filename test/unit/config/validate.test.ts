import * as assert from 'node:assert';
import {repoRoot} from '../../../sandbox/functions';
import * as path from 'node:path';
import {readConfig} from '../../../shared/config';
import {writeFixtures, TRAINER_MAPPING} from './fixtures';

const JOB = `    job:
      taskGroups:
        - taskSpec:
            runnables:
              - container: {commands: [run]}
`;

const NAME_HINT =
  ' (Unique; lowercase letters, digits and hyphens, at most 50 characters. The job id is <name>-<first 12 hex digits of the digest>.)';

/** Validates `yaml` (plus other files) and returns problems with the folder replaced by `DIR`. */
function problemsOf(yaml: string, files: Record<string, string> = {}) {
  const dir = writeFixtures({'pushrun.yaml': yaml, ...files});
  const r = readConfig(path.join(dir, 'pushrun.yaml'));
  const strip = (s: string) => s.split(dir + path.sep).join('');
  return {
    errors: r.errors.map(p =>
      strip(`${p.file}:${p.line}:${p.col} ${p.message}`),
    ),
    warnings: r.warnings.map(p =>
      strip(`${p.file}:${p.line}:${p.col} ${p.message}`),
    ),
    config: r.config,
  };
}

describe('config validation', () => {
  it('accepts the minimal mapping and fills defaults', () => {
    const {errors, warnings, config} = problemsOf(
      `mappings:\n${TRAINER_MAPPING}`,
    );
    assert.deepStrictEqual(errors, []);
    assert.deepStrictEqual(warnings, []);
    assert.deepStrictEqual(config!.defaults, {
      streaming: 'auto',
      platform: 'linux/amd64',
    });
    assert.deepStrictEqual(config!.notifications, {
      topic: 'pushrun-notifications',
      batchEventsTopic: 'pushrun-batch-events',
    });
    assert.strictEqual(config!.mappings[0].streaming, 'auto');
    assert.strictEqual(config!.mappings[0].region, undefined);
  });

  it('takes supersede and limits from the mapping, else from defaults, key by key', () => {
    const {errors, config} = problemsOf(
      `defaults:\n  supersede: queued\n  limits: {maxRunsPerHour: 20, maxConcurrentRuns: 2}\nmappings:\n${TRAINER_MAPPING}  - name: own\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    supersede: running\n    limits: {maxConcurrentRuns: 5}\n${JOB}`,
    );
    assert.deepStrictEqual(errors, []);
    const [inherits, own] = config!.mappings;
    assert.strictEqual(inherits.supersede, 'queued');
    assert.deepStrictEqual(inherits.limits, {
      maxRunsPerHour: 20,
      maxConcurrentRuns: 2,
    });
    assert.strictEqual(own.supersede, 'running');
    assert.deepStrictEqual(own.limits, {
      maxRunsPerHour: 20,
      maxConcurrentRuns: 5,
    });
  });

  it('supersedes nothing and caps nothing by default', () => {
    const {config} = problemsOf(`mappings:\n${TRAINER_MAPPING}`);
    assert.strictEqual(config!.mappings[0].supersede, 'none');
    assert.deepStrictEqual(config!.mappings[0].limits, {});
  });

  it('accepts proto field names and null, as proto3 JSON allows, and keeps the canonical job', () => {
    const {errors, warnings, config} = problemsOf(
      'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    job:\n      task_groups:\n        - task_count: 2\n          parallelism: null\n          task_spec:\n            max_run_duration: 60s\n            runnables:\n              - container: {image_uri: "${IMAGE}", commands: [run], block_external_network: true}\n      allocation_policy: null\n      logs_policy: {destination: CLOUD_LOGGING}\n',
    );
    assert.deepStrictEqual(errors, []);
    assert.deepStrictEqual(warnings, [
      'pushrun.yaml:11:69 container field "blockExternalNetwork" is not allowed with image streaming: this job will pull the image instead',
    ]);
    assert.deepStrictEqual(config!.mappings[0].job, {
      taskGroups: [
        {
          taskCount: 2,
          taskSpec: {
            maxRunDuration: '60s',
            runnables: [
              {
                container: {
                  imageUri: '${IMAGE}',
                  commands: ['run'],
                  blockExternalNetwork: true,
                },
              },
            ],
          },
        },
      ],
      logsPolicy: {destination: 'CLOUD_LOGGING'},
    });
  });

  it('accepts the example config in the repository', () => {
    const r = readConfig(path.join(repoRoot(), 'config/pushrun.yaml'));
    assert.deepStrictEqual(r.errors, []);
    assert.deepStrictEqual(
      r.config!.mappings.map(m => m.name),
      ['trainer', 'render-frames', 'nightly-report'],
    );
  });

  const errorCases: {
    name: string;
    yaml: string;
    files?: Record<string, string>;
    want: string[];
    /** Syntax errors may come with follow-on errors: check the first. */
    firstOnly?: boolean;
  }[] = [
    {
      name: 'YAML syntax error',
      yaml: 'mappings:\n  - name: a\n   bad: [\n',
      want: ['pushrun.yaml:3:1 Sequence item without - indicator'],
      firstOnly: true,
    },
    {
      name: 'missing mappings',
      yaml: 'defaults: {streaming: auto}\n',
      want: ['pushrun.yaml:1:1 the file is missing "mappings"'],
    },
    {
      name: 'unknown key, at the key',
      yaml: `mappings:\n${TRAINER_MAPPING}    image: nope\n`,
      want: ['pushrun.yaml:11:5 unknown key "image" in mappings.0'],
    },
    {
      name: 'unknown top-level key',
      yaml: `mapping: []\nmappings:\n${TRAINER_MAPPING}`,
      want: ['pushrun.yaml:1:1 unknown key "mapping" in the file'],
    },
    {
      name: 'missing match',
      yaml: `mappings:\n  - name: a\n${JOB}`,
      want: ['pushrun.yaml:2:5 mappings.0 is missing "match"'],
    },
    {
      name: 'name pattern',
      yaml: `mappings:\n  - name: Trainer_1\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n${JOB}`,
      want: [
        `pushrun.yaml:2:11 mappings.0.name does not match ^[a-z]([a-z0-9-]{0,48}[a-z0-9])?$${NAME_HINT}`,
      ],
    },
    {
      name: 'a bad name does not hide other problems of the mapping',
      yaml: `mappings:\n  - name: Trainer\n    match: {image: us-docker.pkg.dev/p/r/i}\n${JOB}`,
      want: [
        `pushrun.yaml:2:11 mappings.0.name does not match ^[a-z]([a-z0-9-]{0,48}[a-z0-9])?$${NAME_HINT}`,
        'pushrun.yaml:3:20 the image is in the multi-region "us": set region to a region inside it',
      ],
    },
    {
      name: 'name too long for a job id',
      yaml: `mappings:\n  - name: ${'a'.repeat(51)}\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n${JOB}`,
      want: [
        `pushrun.yaml:2:11 mappings.0.name does not match ^[a-z]([a-z0-9-]{0,48}[a-z0-9])?$${NAME_HINT}`,
      ],
    },
    {
      name: 'streaming not a policy',
      yaml: `defaults:\n  streaming: always\nmappings:\n${TRAINER_MAPPING}`,
      want: [
        'pushrun.yaml:2:14 defaults.streaming must be one of auto, required, off',
      ],
    },
    {
      name: 'tags not a list',
      yaml: `mappings:\n  - name: a\n    match:\n      image: us-central1-docker.pkg.dev/p/r/i\n      tags: v1\n${JOB}`,
      want: ['pushrun.yaml:5:13 mappings.0.match.tags must be array'],
    },
    {
      name: 'duplicate names',
      yaml: `mappings:\n${TRAINER_MAPPING}${TRAINER_MAPPING}`,
      want: [
        'pushrun.yaml:11:11 duplicate mapping name "trainer" (first used on line 2)',
      ],
    },
    {
      name: 'unknown default region',
      yaml: `defaults:\n  region: mars-north1\nmappings:\n${TRAINER_MAPPING}`,
      want: ['pushrun.yaml:2:11 unknown region "mars-north1"'],
    },
    {
      name: 'unknown mapping region',
      yaml: `mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    region: us-central9\n${JOB}`,
      want: ['pushrun.yaml:4:13 unknown region "us-central9"'],
    },
    {
      name: 'multi-region image without region',
      yaml: `mappings:\n  - name: a\n    match: {image: us-docker.pkg.dev/p/r/i}\n${JOB}`,
      want: [
        'pushrun.yaml:3:20 the image is in the multi-region "us": set region to a region inside it',
      ],
    },
    {
      name: 'region outside the multi-region',
      yaml: `mappings:\n  - name: a\n    match: {image: us-docker.pkg.dev/p/r/i}\n    region: europe-west1\n${JOB}`,
      want: [
        'pushrun.yaml:4:13 region "europe-west1" is outside the image\'s location "us", so Batch cannot stream the image',
      ],
    },
    {
      name: 'region other than the image region',
      yaml: `mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    region: us-east1\n${JOB}`,
      want: [
        'pushrun.yaml:4:13 region "us-east1" is outside the image\'s location "us-central1", so Batch cannot stream the image',
      ],
    },
    {
      name: 'unknown Artifact Registry location',
      yaml: `mappings:\n  - name: a\n    match: {image: mars-docker.pkg.dev/p/r/i}\n${JOB}`,
      want: ['pushrun.yaml:3:20 unknown Artifact Registry location "mars"'],
    },
    {
      name: 'image outside Artifact Registry without a region',
      yaml: `mappings:\n  - name: a\n    match: {image: docker.io/library/busybox}\n${JOB}`,
      want: [
        'pushrun.yaml:3:20 the image is not in Artifact Registry, so its region cannot be inferred: set region',
      ],
    },
    {
      name: 'Container Registry with streaming required',
      yaml: `mappings:\n  - name: a\n    match: {image: gcr.io/p/i}\n    region: us-central1\n    streaming: required\n${JOB}`,
      want: [
        'pushrun.yaml:3:20 streaming is required, but Batch cannot stream images from Container Registry (gcr.io); use Artifact Registry',
      ],
    },
    {
      name: 'tag written into match.image',
      yaml: `mappings:\n  - name: a\n    match: {image: "us-central1-docker.pkg.dev/p/r/i:v1"}\n${JOB}`,
      want: [
        'pushrun.yaml:3:20 match.image is the image name without tag or digest: put tags under match.tags',
      ],
    },
    {
      name: 'invalid semver range and regex',
      yaml: `mappings:\n  - name: a\n    match:\n      image: us-central1-docker.pkg.dev/p/r/i\n      tags: ["semver:>=banana", "regex:(", "v*"]\n${JOB}`,
      want: [
        'pushrun.yaml:5:14 invalid semver range ">=banana" in tag filter "semver:>=banana"',
        'pushrun.yaml:5:33 invalid regular expression in tag filter "regex:(": Invalid regular expression: /^(?:()$/u: Unterminated group',
      ],
    },
    {
      name: 'job and jobFile together',
      yaml: `mappings:\n${TRAINER_MAPPING}    jobFile: jobs/a.json\n`,
      want: ['pushrun.yaml:11:5 set either job or jobFile, not both'],
    },
    {
      name: 'neither job nor jobFile',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n',
      want: ['pushrun.yaml:2:5 the mapping needs a job or a jobFile'],
    },
    {
      name: 'jobFile missing',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    jobFile: jobs/missing.json\n',
      want: [
        'pushrun.yaml:4:14 cannot read jobFile jobs/missing.json: no such file',
      ],
    },
    {
      name: 'jobFile not JSON',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    jobFile: jobs/a.json\n',
      files: {'jobs/a.json': '{\n  "taskGroups": [\n}\n'},
      want: [
        'jobs/a.json:3:1 Flow sequence in block collection must be sufficiently indented',
      ],
      firstOnly: true,
    },
    {
      name: 'jobFile not an object',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    jobFile: jobs/a.json\n',
      files: {'jobs/a.json': '[1, 2]\n'},
      want: ['jobs/a.json:1:1 a job file holds one Batch Job object'],
    },
    {
      name: 'unknown placeholder inline',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    job:\n      taskGroups:\n        - taskSpec:\n            runnables:\n              - container: {commands: [run, "${TAG}"]}\n',
      want: [
        'pushrun.yaml:8:45 unknown placeholder ${TAG} (known: IMAGE, IMAGE_DIGEST, IMAGE_TAG, IMAGE_NAME, MAPPING; write $${TAG} for a literal)',
      ],
    },
    {
      name: 'unknown placeholder in a jobFile, located in that file',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    jobFile: jobs/a.json\n',
      files: {
        'jobs/a.json': JSON.stringify(
          {
            taskGroups: [
              {
                taskSpec: {
                  runnables: [
                    {container: {commands: ['run', '${BATCH_TASK_INDEX}']}},
                  ],
                },
              },
            ],
          },
          null,
          2,
        ),
      },
      want: [
        'jobs/a.json:10:17 unknown placeholder ${BATCH_TASK_INDEX} (known: IMAGE, IMAGE_DIGEST, IMAGE_TAG, IMAGE_NAME, MAPPING; write $${BATCH_TASK_INDEX} for a literal)',
      ],
    },
    {
      name: 'field the Job message does not have',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    job:\n      taskGroups:\n        - taskSpec:\n            maxRunduration: 60s\n            runnables:\n              - container: {commands: [run]}\n',
      want: [
        'pushrun.yaml:7:13 unknown field "maxRunduration" in Job.taskGroups[0].taskSpec (write "maxRunDuration")',
      ],
    },
    {
      name: 'value the Job message cannot take',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    job:\n      taskGroups:\n        - taskSpec:\n            runnables:\n              - container: {commands: [run]}\n      logsPolicy: {destination: STDOUT}\n',
      want: [
        'pushrun.yaml:9:33 Job.logsPolicy.destination must be one of DESTINATION_UNSPECIFIED, CLOUD_LOGGING, PATH',
      ],
    },
    {
      name: 'job without task groups',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    job:\n      logsPolicy: {destination: CLOUD_LOGGING}\n',
      want: ['pushrun.yaml:5:7 the job has no taskGroups'],
    },
    {
      name: 'streaming required with a field streaming does not allow',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    streaming: required\n    job:\n      taskGroups:\n        - taskSpec:\n            runnables:\n              - container:\n                  commands: [run]\n                  options: --privileged\n',
      want: [
        'pushrun.yaml:11:19 container field "options" is not allowed with image streaming, and streaming is required',
      ],
    },
    {
      name: 'an int32 out of range',
      yaml: `mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n${JOB}            maxRetryCount: 3000000000\n`,
      want: [
        'pushrun.yaml:9:28 Job.taskGroups[0].taskSpec.maxRetryCount must be between -2147483648 and 2147483647 (int32), not 3000000000',
      ],
    },
    {
      name: 'an int64 written as a fraction in a string',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    job:\n      taskGroups:\n        - taskCount: "1.5"\n          taskSpec: {runnables: [{container: {commands: [run]}}]}\n',
      want: [
        'pushrun.yaml:6:22 Job.taskGroups[0].taskCount must be a whole number (int64)',
      ],
    },
    {
      name: 'an int64 number past 2^53',
      yaml: `mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n${JOB}      priority: 9007199254740993\n`,
      want: [
        'pushrun.yaml:9:17 Job.priority is past 2^53, where a number loses digits: write it in quotes, as a string',
      ],
    },
    {
      name: 'an unknown supersede policy',
      yaml: `mappings:\n${TRAINER_MAPPING}    supersede: always\n`,
      want: [
        'pushrun.yaml:11:16 mappings.0.supersede must be one of none, queued, running',
      ],
    },
    {
      name: 'a limit that is not a whole number',
      yaml: `defaults:\n  limits: {maxRunsPerHour: 2.5}\nmappings:\n${TRAINER_MAPPING}`,
      want: [
        'pushrun.yaml:2:28 defaults.limits.maxRunsPerHour must be integer',
      ],
    },
    {
      name: 'a limit below one',
      yaml: `mappings:\n${TRAINER_MAPPING}    limits:\n      maxConcurrentRuns: 0\n`,
      want: [
        'pushrun.yaml:12:26 mappings.0.limits.maxConcurrentRuns must be >= 1',
      ],
    },
    {
      name: 'an unknown limit',
      yaml: `mappings:\n${TRAINER_MAPPING}    limits: {maxRuns: 3}\n`,
      want: ['pushrun.yaml:11:14 unknown key "maxRuns" in mappings.0.limits'],
    },
    {
      name: 'two members of one oneof',
      yaml: `mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n${JOB}      allocationPolicy:\n        instances: [{policy: {machineType: e2-standard-4}, instanceTemplate: t}]\n`,
      want: [
        'pushrun.yaml:10:60 Job.allocationPolicy.instances[0] sets both "policy" and "instanceTemplate", but a Batch job takes only one of "policy", "instanceTemplate"',
      ],
    },
    {
      name: 'one field under both of its names',
      yaml: `mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n${JOB}      logsPolicy: {destination: CLOUD_LOGGING}\n      logs_policy: {destination: CLOUD_LOGGING}\n`,
      want: [
        'pushrun.yaml:10:7 Job sets "logsPolicy" twice, as "logsPolicy" and "logs_policy"',
      ],
    },
  ];
  for (const c of errorCases) {
    it(`reports ${c.name}`, () => {
      const {errors, config} = problemsOf(c.yaml, c.files);
      assert.strictEqual(config, undefined);
      if (c.firstOnly) assert.ok(errors.length >= 1);
      else assert.strictEqual(errors.length, c.want.length, errors.join('\n'));
      c.want.forEach((w, i) =>
        assert.ok(errors[i].startsWith(w), `got\n  ${errors[i]}\nwant\n  ${w}`),
      );
    });
  }

  const warningCases = [
    {
      name: 'a field streaming does not allow, with streaming auto',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    job:\n      taskGroups:\n        - taskSpec:\n            runnables:\n              - container:\n                  commands: [run]\n                  username: bot\n',
      want: [
        'pushrun.yaml:10:19 container field "username" is not allowed with image streaming: this job will pull the image instead',
      ],
    },
    {
      name: 'no container runs the pushed image',
      yaml: 'mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    job:\n      taskGroups:\n        - taskSpec:\n            runnables:\n              - container: {imageUri: busybox}\n',
      want: [
        'pushrun.yaml:6:9 no container runnable runs the pushed image (leave imageUri out, or write ${IMAGE})',
      ],
    },
    {
      name: 'a region outside the image location, with streaming off',
      yaml: `mappings:\n  - name: a\n    match: {image: us-central1-docker.pkg.dev/p/r/i}\n    region: us-east1\n    streaming: "off"\n${JOB}`,
      want: [
        'pushrun.yaml:4:13 region "us-east1" is outside the image\'s location "us-central1", so Batch cannot stream the image (and pulls it across regions)',
      ],
    },
    {
      name: 'no mappings',
      yaml: 'mappings: []\n',
      want: ['pushrun.yaml:1:11 no mappings: no push will start a job'],
    },
  ];
  for (const c of warningCases) {
    it(`warns about ${c.name}`, () => {
      const {errors, warnings, config} = problemsOf(c.yaml);
      assert.deepStrictEqual(errors, []);
      assert.deepStrictEqual(warnings, c.want);
      assert.ok(config);
      assert.strictEqual(config.warnings.length, c.want.length);
    });
  }
});
