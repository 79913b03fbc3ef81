import * as assert from 'node:assert';
import {
  formatImageRef,
  imageName,
  ImageRefError,
  parseImageRef,
  parseImageSource,
  type ImageRef,
} from '../../shared/image_ref';

const DIGEST = 'sha256:' + 'ab'.repeat(32);

describe('parseImageRef', () => {
  const valid: {name: string; text: string; want: ImageRef}[] = [
    {
      name: 'Artifact Registry with tag',
      text: 'us-central1-docker.pkg.dev/my-project/ml/trainer:v1',
      want: {
        host: 'us-central1-docker.pkg.dev',
        path: 'my-project/ml/trainer',
        tag: 'v1',
        kind: 'artifact-registry',
        location: 'us-central1',
        project: 'my-project',
        repository: 'ml',
        image: 'trainer',
      },
    },
    {
      name: 'Artifact Registry multi-region, nested image, digest',
      text: `us-docker.pkg.dev/p/r/team/app@${DIGEST}`,
      want: {
        host: 'us-docker.pkg.dev',
        path: 'p/r/team/app',
        digest: DIGEST,
        kind: 'artifact-registry',
        location: 'us',
        project: 'p',
        repository: 'r',
        image: 'team/app',
      },
    },
    {
      name: 'Artifact Registry domain-scoped project',
      text: 'europe-west1-docker.pkg.dev/example.com/proj/repo/img',
      want: {
        host: 'europe-west1-docker.pkg.dev',
        path: 'example.com/proj/repo/img',
        kind: 'artifact-registry',
        location: 'europe-west1',
        project: 'example.com:proj',
        repository: 'repo',
        image: 'img',
      },
    },
    {
      name: 'tag and digest together',
      text: `us-east1-docker.pkg.dev/p/r/i:1.2@${DIGEST}`,
      want: {
        host: 'us-east1-docker.pkg.dev',
        path: 'p/r/i',
        tag: '1.2',
        digest: DIGEST,
        kind: 'artifact-registry',
        location: 'us-east1',
        project: 'p',
        repository: 'r',
        image: 'i',
      },
    },
    {
      name: 'gcr.io',
      text: 'gcr.io/p/app:1',
      want: {
        host: 'gcr.io',
        path: 'p/app',
        tag: '1',
        kind: 'container-registry',
      },
    },
    {
      name: 'regional gcr.io',
      text: 'eu.gcr.io/p/app',
      want: {host: 'eu.gcr.io', path: 'p/app', kind: 'container-registry'},
    },
    {
      name: 'Docker Hub short name',
      text: 'ubuntu',
      want: {host: 'docker.io', path: 'library/ubuntu', kind: 'other'},
    },
    {
      name: 'Docker Hub user image with tag',
      text: 'user/app:1',
      want: {host: 'docker.io', path: 'user/app', tag: '1', kind: 'other'},
    },
    {
      name: 'Docker Hub alias host',
      text: 'index.docker.io/library/alpine:3',
      want: {
        host: 'docker.io',
        path: 'library/alpine',
        tag: '3',
        kind: 'other',
      },
    },
    {
      name: 'host with port',
      text: '127.0.0.1:5000/acme/demo/app:v1',
      want: {
        host: '127.0.0.1:5000',
        path: 'acme/demo/app',
        tag: 'v1',
        kind: 'other',
      },
    },
    {
      name: 'localhost without dot',
      text: 'localhost/app',
      want: {host: 'localhost', path: 'app', kind: 'other'},
    },
  ];
  for (const c of valid) {
    it(`parses ${c.name}`, () => {
      assert.deepStrictEqual(parseImageRef(c.text), c.want);
    });
  }

  const invalid: {name: string; text: string; message: RegExp}[] = [
    {name: 'empty', text: '', message: /it is empty/},
    {
      name: 'URL scheme',
      text: 'https://gcr.io/p/a',
      message: /drop the URL scheme/,
    },
    {name: 'uppercase', text: 'gcr.io/p/MyApp', message: /must be lowercase/},
    {name: 'bad tag', text: 'gcr.io/p/a:-x', message: /tag "-x"/},
    {
      name: 'short digest',
      text: 'gcr.io/p/a@sha256:abc',
      message: /64 lowercase hex/,
    },
    {
      name: 'unknown digest algorithm',
      text: `gcr.io/p/a@md5:${'a'.repeat(32)}`,
      message: /"md5" is not supported/,
    },
    {
      name: 'double slash',
      text: 'gcr.io/p//a',
      message: /component 2 is empty/,
    },
    {
      name: 'bad character',
      text: 'gcr.io/p/a$b',
      message: /path component "a\$b"/,
    },
    {
      name: 'AR without image',
      text: 'us-docker.pkg.dev/p/r',
      message: /lacks the image/,
    },
    {
      name: 'AR without repository',
      text: 'us-docker.pkg.dev/p',
      message: /lacks the repository and image/,
    },
    {name: 'port out of range', text: 'host:99999/a', message: /port 99999/},
    {name: 'space', text: 'gcr.io/p/a b', message: /contains a space/},
    {name: 'no name', text: ':v1', message: /image name is missing/},
  ];
  for (const c of invalid) {
    it(`rejects ${c.name}`, () => {
      assert.throws(
        () => parseImageRef(c.text),
        (e: unknown) =>
          e instanceof ImageRefError &&
          c.message.test(e.message) &&
          e.input === c.text,
      );
    });
  }
});

describe('formatImageRef and imageName', () => {
  const cases = [
    {
      name: 'tag',
      text: 'gcr.io/p/a:1',
      formatted: 'gcr.io/p/a:1',
      base: 'gcr.io/p/a',
    },
    {
      name: 'tag and digest',
      text: `gcr.io/p/a:1@${DIGEST}`,
      formatted: `gcr.io/p/a:1@${DIGEST}`,
      base: 'gcr.io/p/a',
    },
    {
      name: 'Docker Hub short name',
      text: 'ubuntu:22.04',
      formatted: 'docker.io/library/ubuntu:22.04',
      base: 'docker.io/library/ubuntu',
    },
  ];
  for (const c of cases) {
    it(`round-trips ${c.name}`, () => {
      const ref = parseImageRef(c.text);
      assert.strictEqual(formatImageRef(ref), c.formatted);
      assert.strictEqual(imageName(ref), c.base);
      assert.deepStrictEqual(parseImageRef(formatImageRef(ref)), ref);
    });
  }
});

describe('parseImageSource', () => {
  const cases = [
    {
      name: 'registry reference',
      text: 'gcr.io/p/a:1',
      want: {kind: 'registry', ref: parseImageRef('gcr.io/p/a:1')},
    },
    {
      name: 'oci dir',
      text: 'oci:./build/img',
      want: {kind: 'oci', dir: './build/img'},
    },
    {
      name: 'oci dir with tag',
      text: 'oci:/tmp/x:v1',
      want: {kind: 'oci', dir: '/tmp/x', tag: 'v1'},
    },
    {
      name: 'oci dir whose last colon is in the path',
      text: 'oci:/tmp/a:b/c',
      want: {kind: 'oci', dir: '/tmp/a:b/c'},
    },
  ];
  for (const c of cases) {
    it(`parses ${c.name}`, () => {
      assert.deepStrictEqual(parseImageSource(c.text), c.want);
    });
  }
  it('rejects oci: without a directory', () => {
    assert.throws(() => parseImageSource('oci:'), /write oci:DIR/);
  });
});
