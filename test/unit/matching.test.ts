import * as assert from 'node:assert';
import {parseConfig, type PushrunConfig} from '../../shared/config';
import {parseImageRef} from '../../shared/image_ref';
import {matchMappings} from '../../shared/matching';

const DIGEST = 'sha256:' + 'ab'.repeat(32);

function config(): PushrunConfig {
  const job =
    '    job: {taskGroups: [{taskSpec: {runnables: [{container: {commands: [x]}}]}}]}\n';
  const yaml = `mappings:
  - name: any-push
    match: {image: us-central1-docker.pkg.dev/p/ml/trainer}
${job}  - name: v-tags
    match: {image: us-central1-docker.pkg.dev/p/ml/trainer, tags: ["v*"]}
${job}  - name: semver-two
    match: {image: us-central1-docker.pkg.dev/p/ml/trainer, tags: ["semver:>=2.0.0 <3"]}
${job}  - name: regex-rc
    match: {image: us-central1-docker.pkg.dev/p/ml/trainer, tags: ["regex:rc-[0-9]+"]}
${job}  - name: repo-star
    match: {image: us-central1-docker.pkg.dev/p/ml/*}
${job}  - name: deep
    match: {image: "us-central1-docker.pkg.dev/p/**"}
${job}`;
  const {config, errors} = parseConfig(yaml, 'pushrun.yaml');
  assert.deepStrictEqual(errors, []);
  return config!;
}

describe('matchMappings', () => {
  const cfg = config();
  const cases = [
    {
      name: 'untagged push matches only mappings without tag filters',
      image: 'us-central1-docker.pkg.dev/p/ml/trainer',
      tag: undefined,
      want: ['any-push', 'repo-star', 'deep'],
    },
    {
      name: 'glob tag',
      image: 'us-central1-docker.pkg.dev/p/ml/trainer',
      tag: 'v1.0.0',
      want: ['any-push', 'v-tags', 'repo-star', 'deep'],
    },
    {
      name: 'semver range with a leading v',
      image: 'us-central1-docker.pkg.dev/p/ml/trainer',
      tag: 'v2.1.0',
      want: ['any-push', 'v-tags', 'semver-two', 'repo-star', 'deep'],
    },
    {
      name: 'semver range with a short version',
      image: 'us-central1-docker.pkg.dev/p/ml/trainer',
      tag: '2.1',
      want: ['any-push', 'semver-two', 'repo-star', 'deep'],
    },
    {
      name: 'semver range excludes versions outside it',
      image: 'us-central1-docker.pkg.dev/p/ml/trainer',
      tag: '3.0.0',
      want: ['any-push', 'repo-star', 'deep'],
    },
    {
      name: 'semver does not coerce numbers out of names',
      image: 'us-central1-docker.pkg.dev/p/ml/trainer',
      tag: 'build-2',
      want: ['any-push', 'repo-star', 'deep'],
    },
    {
      name: 'semver leaves prereleases out',
      image: 'us-central1-docker.pkg.dev/p/ml/trainer',
      tag: '2.1.0-rc.1',
      want: ['any-push', 'repo-star', 'deep'],
    },
    {
      name: 'regex is a full match',
      image: 'us-central1-docker.pkg.dev/p/ml/trainer',
      tag: 'rc-12',
      want: ['any-push', 'regex-rc', 'repo-star', 'deep'],
    },
    {
      name: 'regex does not match a part of the tag',
      image: 'us-central1-docker.pkg.dev/p/ml/trainer',
      tag: 'rc-12-hotfix',
      want: ['any-push', 'repo-star', 'deep'],
    },
    {
      name: 'a single star stays within one path segment',
      image: 'us-central1-docker.pkg.dev/p/ml/nested/trainer',
      tag: 'v1',
      want: ['deep'],
    },
    {
      name: 'another image matches nothing',
      image: 'europe-west4-docker.pkg.dev/p/ml/trainer',
      tag: 'v1',
      want: [],
    },
    {
      name: 'image name is matched without the digest',
      image: 'us-central1-docker.pkg.dev/p/ml/other',
      tag: undefined,
      want: ['repo-star', 'deep'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const ref = parseImageRef(`${c.image}@${DIGEST}`);
      const got = matchMappings(cfg, {ref, tag: c.tag}).map(m => m.name);
      assert.deepStrictEqual(got, c.want);
    });
  }
});
