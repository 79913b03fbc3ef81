import * as assert from 'node:assert';
import {gzipSync} from 'node:zlib';
import {openLayer} from '../../../shared/registry/layer_contents';
import {KNOWN_EMPTY_GZIP, gzipWithMtime, makeTar} from '../../support/images';

describe('openLayer', () => {
  const cases: {
    name: string;
    blob: () => Promise<Buffer>;
    want: RegExp | number;
  }[] = [
    {
      name: 'the well-known gzipped empty tar',
      blob: async () => KNOWN_EMPTY_GZIP,
      want: 0,
    },
    {
      name: 'an empty tar gzipped by zlib at level 9',
      blob: async () => gzipWithMtime(Buffer.alloc(1024), 5, 9),
      want: 0,
    },
    {
      name: 'an uncompressed empty tar padded to 10 KiB',
      blob: async () => Buffer.alloc(10240),
      want: 0,
    },
    {
      name: 'an empty tar written by tar-stream',
      blob: () => makeTar({}),
      want: 0,
    },
    {name: 'a zero-byte blob', blob: async () => Buffer.alloc(0), want: 0},
    {
      name: 'a one-byte file, gzipped',
      blob: async () => gzipSync(await makeTar({x: 'y'})),
      want: 1,
    },
    {
      name: 'two files, uncompressed',
      blob: () => makeTar({a: '1', b: '2'}),
      want: 2,
    },
    {
      name: 'zstd on a Node without zstd',
      blob: async () => Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]),
      want: /zstd|decompress/,
    },
    {
      name: 'not a tar',
      blob: async () => Buffer.from('hello world'.repeat(60)),
      want: /not a tar archive/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const got = await openLayer(await c.blob());
      if (typeof c.want === 'number')
        assert.deepStrictEqual(got, {entries: c.want});
      else
        assert.ok(
          'unreadable' in got && c.want.test(got.unreadable),
          JSON.stringify(got),
        );
    });
  }
});
