import * as assert from 'node:assert';
import * as zlib from 'node:zlib';
import {gzipSync} from 'node:zlib';
import {openLayer} from '../../../shared/registry/layer_contents';
import {
  KNOWN_EMPTY_GZIP,
  gzipWithMtime,
  makeTar,
} from '../../../sandbox/images';

// zlib compresses zstd from Node 22.15 on; before that a zstd layer cannot be opened.
const zstd = (zlib as unknown as {zstdCompressSync?: (b: Buffer) => Buffer})
  .zstdCompressSync;

function zstdCases() {
  if (!zstd) {
    return [
      {
        name: `zstd on Node ${process.versions.node}, which has no zstd`,
        blob: async () => Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]),
        want: /zstd layers need Node 22\.15 or later/,
      },
    ];
  }
  return [
    {
      name: 'an empty tar, zstd-compressed',
      blob: async () => zstd(Buffer.alloc(1024)),
      want: 0,
    },
    {
      name: 'a one-byte file, zstd-compressed',
      blob: async () => zstd(await makeTar({x: 'y'})),
      want: 1,
    },
    {
      name: 'a truncated zstd frame is not taken for an empty layer',
      blob: async () => zstd(await makeTar({x: 'y'})).subarray(0, 20),
      want: /decompresses to nothing/,
    },
  ];
}

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
    ...zstdCases(),
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
