import * as assert from 'node:assert';
import * as path from 'node:path';
import * as sinon from 'sinon';
import {
  checkRepositories,
  configCommand,
  type RepositoryReader,
  type TopicPolicy,
} from '../../../shared/cli/config_command';
import {parseConfig} from '../../../shared/config';
import {writeFixtures, TRAINER_MAPPING} from '../config/fixtures';
import {runCli, runModule} from '../../support/cli';

/** Runs `pushrun ARGS` in process; returns the exit code and what was printed. */
const run = runCli;

/** A recorded Pub/Sub fake: every topic asked for, answered with `policy` (thrown if an Error). */
function topicPolicies(policy: TopicPolicy | Error) {
  const asked: string[] = [];
  const reader = {
    topic: (name: string) => {
      asked.push(name);
      return {
        iam: {
          getPolicy: async () => {
            if (policy instanceof Error) throw policy;
            return [policy] as const;
          },
        },
      };
    },
  };
  return {reader, asked};
}

/** Runs `config validate` with fake Google clients, the way `main` wires a module. */
const runWith = (
  reader: RepositoryReader,
  args: string[],
  topics = topicPolicies({}).reader,
  env: NodeJS.ProcessEnv = {},
) =>
  runModule(
    configCommand({repositories: () => reader, topics: () => topics}),
    args,
    env,
  );

describe('pushrun config validate', () => {
  afterEach(() => sinon.restore());

  const offline: {
    name: string;
    files: Record<string, string>;
    args: string[];
    code: number;
    out: RegExp;
    err: RegExp;
  }[] = [
    {
      name: 'valid file: exit 0',
      files: {'c.yaml': `mappings:\n${TRAINER_MAPPING}`},
      args: ['c.yaml'],
      code: 0,
      out: /c\.yaml: valid, 1 mapping\n$/,
      err: /^$/,
    },
    {
      name: 'warnings are printed, exit 0',
      files: {'c.yaml': 'mappings: []\n'},
      args: ['c.yaml'],
      code: 0,
      out: /valid, 0 mappings/,
      err: /^\S*c\.yaml:1:11 warning: no mappings: no push will start a job\n$/,
    },
    {
      name: 'one line per problem, exit 1',
      files: {
        'c.yaml': `defaults: {region: nowhere1}\nmappings:\n${TRAINER_MAPPING}${TRAINER_MAPPING}`,
      },
      args: ['c.yaml'],
      code: 1,
      out: /^$/,
      err: /^\S*c\.yaml:1:20 defaults\.region does not match .*\n\S*c\.yaml:12:11 duplicate mapping name "trainer" \(first used on line 3\)\n$/,
    },
    {
      name: 'missing file, exit 1',
      files: {},
      args: ['missing.yaml'],
      code: 1,
      out: /^$/,
      err: /missing\.yaml:1:1 cannot read config: no such file\n$/,
    },
  ];
  for (const c of offline) {
    it(c.name, async () => {
      const dir = writeFixtures(c.files);
      const r = await run([
        'config',
        'validate',
        ...c.args.map(a => path.join(dir, a)),
      ]);
      assert.strictEqual(r.code, c.code, r.err);
      assert.match(r.out, c.out);
      assert.match(r.err, c.err);
    });
  }

  it('reads PUSHRUN_CONFIG when no file is given', async () => {
    const dir = writeFixtures({'c.yaml': 'mappings:\n  - name: a\n'});
    const r = await run(['config', 'validate'], {
      PUSHRUN_CONFIG: path.join(dir, 'c.yaml'),
    });
    assert.strictEqual(r.code, 1);
    assert.match(r.err, /c\.yaml:2:5 mappings\.0 is missing "match"/);
  });

  describe('--online', () => {
    const yaml = `mappings:
  - name: trainer
    match: {image: us-central1-docker.pkg.dev/my-project/ml/trainer}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: [x]}}]}}]}
  - name: tools
    match: {image: "us-docker.pkg.dev/my-project/tools/*"}
    region: us-east1
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: [x]}}]}}]}
  - name: anything
    match: {image: "*-docker.pkg.dev/my-project/**"}
    region: us-east1
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: [x]}}]}}]}
`;
    const ML = 'projects/my-project/locations/us-central1/repositories/ml';
    const TOOLS = 'projects/my-project/locations/us/repositories/tools';

    function reader(repos: Record<string, {format: string | number} | Error>) {
      const getRepository = sinon.fake(async ({name}: {name: string}) => {
        const r = repos[name];
        if (r instanceof Error) throw r;
        if (!r)
          throw Object.assign(new Error(`5 NOT_FOUND: ${name}`), {code: 5});
        return [{name, ...r}] as const;
      });
      return {getRepository};
    }

    const cases: {
      name: string;
      repos: Record<string, {format: string | number} | Error>;
      code: number;
      err: RegExp[];
    }[] = [
      {
        name: 'repositories exist, are DOCKER and fit the regions: exit 0',
        repos: {[ML]: {format: 'DOCKER'}, [TOOLS]: {format: 1}},
        code: 0,
        err: [
          /:10:20 warning: not checked online: match\.image names no literal Artifact Registry repository/,
        ],
      },
      {
        name: 'a missing repository: exit 1',
        repos: {[TOOLS]: {format: 'DOCKER'}},
        code: 1,
        err: [
          /:3:20 repository projects\/my-project\/locations\/us-central1\/repositories\/ml does not exist/,
        ],
      },
      {
        name: 'a repository of another format: exit 1',
        repos: {[ML]: {format: 'MAVEN'}, [TOOLS]: {format: 'DOCKER'}},
        code: 1,
        err: [/:3:20 repository .*\/ml is a MAVEN repository, not DOCKER/],
      },
      {
        name: 'permission denied: could not check, exit 2',
        repos: {
          [ML]: Object.assign(new Error('7 PERMISSION_DENIED: denied'), {
            code: 7,
          }),
          [TOOLS]: {format: 'DOCKER'},
        },
        code: 2,
        err: [
          /could not check repository .*\/ml for mapping "trainer": 7 PERMISSION_DENIED/,
        ],
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const dir = writeFixtures({'c.yaml': yaml});
        const fake = reader(c.repos);
        const topics = topicPolicies({});
        const r = await runWith(
          fake,
          ['config', 'validate', '--online', path.join(dir, 'c.yaml')],
          topics.reader,
        );
        assert.strictEqual(r.code, c.code, r.err);
        for (const e of c.err) assert.match(r.err, e);
        assert.deepStrictEqual(
          fake.getRepository.getCalls().map(call => call.args[0].name),
          [ML, TOOLS],
        );
        // No template names an account and PUSHRUN_JOB_SERVICE_ACCOUNT is unset: no topic asked.
        assert.deepStrictEqual(topics.asked, []);
        assert.strictEqual(r.out !== '', c.code === 0);
      });
    }

    it('reports a repository whose location does not contain the region', async () => {
      const {config} = parseConfig(yaml, 'c.yaml');
      const fake = {
        getRepository: sinon.fake(async ({name}: {name: string}) =>
          name === TOOLS
            ? ([
                {
                  name: 'projects/my-project/locations/europe/repositories/tools',
                  format: 'DOCKER',
                },
              ] as const)
            : ([{name, format: 'DOCKER'}] as const),
        ),
      };
      const found = await checkRepositories(config!, fake);
      assert.deepStrictEqual(
        found.problems.map(
          p => `${p.line}:${p.col} ${p.severity} ${p.message}`,
        ),
        [
          '6:20 error repository projects/my-project/locations/us/repositories/tools is in europe, which does not contain the job region us-east1',
          '10:20 warning not checked online: match.image names no literal Artifact Registry repository',
        ],
      );
      assert.deepStrictEqual(found.unchecked, []);
    });

    describe('who may publish to the Batch events topic', () => {
      // trainer's template names its own account; report's jobs run as PUSHRUN_JOB_SERVICE_ACCOUNT.
      const publisherYaml = `notifications: {batchEventsTopic: events}
mappings:
  - name: trainer
    match: {image: us-central1-docker.pkg.dev/my-project/ml/trainer}
    job:
      taskGroups: [{taskSpec: {runnables: [{container: {commands: [x]}}]}}]
      allocationPolicy: {serviceAccount: {email: trainer@my-project.iam.gserviceaccount.com}}
  - name: report
    match: {image: us-central1-docker.pkg.dev/my-project/ml/report}
    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: [x]}}]}}]}
`;
      const TRAINER =
        'serviceAccount:trainer@my-project.iam.gserviceaccount.com';
      const JOBS =
        'serviceAccount:pushrun-jobs@my-project.iam.gserviceaccount.com';
      const ENV = {
        GOOGLE_CLOUD_PROJECT: 'my-project',
        PUSHRUN_JOB_SERVICE_ACCOUNT:
          'pushrun-jobs@my-project.iam.gserviceaccount.com',
      };
      const lacks = (line: number, account: string) =>
        new RegExp(
          `c\\.yaml:${line}:20 the jobs run as ${account.replace(/\./g, '\\.')}, which lacks roles/pubsub\\.publisher on topic projects/my-project/topics/events`,
        );
      const cases: {
        name: string;
        policy: TopicPolicy | Error;
        env?: NodeJS.ProcessEnv;
        code: number;
        err: RegExp[];
        asked: string[];
      }[] = [
        {
          name: 'both accounts publish (publisher, and editor which holds it): exit 0',
          policy: {
            bindings: [
              {role: 'roles/pubsub.publisher', members: [TRAINER]},
              {
                role: 'roles/pubsub.editor',
                members: ['user:someone@example.com', JOBS],
              },
            ],
          },
          code: 0,
          err: [/^$/],
          asked: ['projects/my-project/topics/events'],
        },
        {
          name: 'admin holds it too: exit 0',
          policy: {
            bindings: [{role: 'roles/pubsub.admin', members: [TRAINER, JOBS]}],
          },
          code: 0,
          err: [/^$/],
          asked: ['projects/my-project/topics/events'],
        },
        {
          name: "the template's account lacks it: a problem at its mapping, exit 1",
          policy: {
            bindings: [{role: 'roles/pubsub.publisher', members: [JOBS]}],
          },
          code: 1,
          err: [lacks(4, 'trainer@my-project.iam.gserviceaccount.com')],
          asked: ['projects/my-project/topics/events'],
        },
        {
          name: 'a role without publish does not count, nor does an empty policy: exit 1',
          policy: {
            bindings: [{role: 'roles/pubsub.viewer', members: [TRAINER, JOBS]}],
          },
          code: 1,
          err: [
            lacks(4, 'trainer@my-project.iam.gserviceaccount.com'),
            lacks(9, 'pushrun-jobs@my-project.iam.gserviceaccount.com'),
          ],
          asked: ['projects/my-project/topics/events'],
        },
        {
          name: 'no job service account in the environment: only the template account is checked',
          policy: {
            bindings: [{role: 'roles/pubsub.publisher', members: [TRAINER]}],
          },
          env: {},
          code: 0,
          err: [/^$/],
          asked: ['events'],
        },
        {
          name: 'permission denied: could not check, exit 2',
          policy: Object.assign(new Error('7 PERMISSION_DENIED: denied'), {
            code: 7,
          }),
          code: 2,
          err: [
            /c\.yaml: could not check who may publish to topic projects\/my-project\/topics\/events: 7 PERMISSION_DENIED/,
          ],
          asked: ['projects/my-project/topics/events'],
        },
        {
          name: 'no such topic yet: could not check, exit 2',
          policy: Object.assign(new Error('5 NOT_FOUND: no topic'), {code: 5}),
          code: 2,
          err: [
            /could not check who may publish to topic \S+: the topic does not exist \(deploy\.sh creates it\)/,
          ],
          asked: ['projects/my-project/topics/events'],
        },
      ];
      for (const c of cases) {
        it(c.name, async () => {
          const dir = writeFixtures({'c.yaml': publisherYaml});
          const repos = reader({
            [ML]: {format: 'DOCKER'},
          });
          const topics = topicPolicies(c.policy);
          const r = await runWith(
            repos,
            ['config', 'validate', '--online', path.join(dir, 'c.yaml')],
            topics.reader,
            c.env ?? ENV,
          );
          assert.strictEqual(r.code, c.code, r.err);
          for (const e of c.err) assert.match(r.err, e);
          assert.deepStrictEqual(topics.asked, c.asked);
          if (c.code !== 0) {
            assert.strictEqual(
              r.err.trim().split('\n').length,
              c.err.length,
              r.err,
            );
          } else {
            assert.match(
              r.out,
              /valid, 2 mappings, repositories and topic grants checked\n$/,
            );
          }
        });
      }
    });
  });
});
