import * as assert from 'node:assert';
import * as zlib from 'node:zlib';
import {gzipSync} from 'node:zlib';
import {
  ZSTD_SUPPORTED,
  openLayer,
  zstdFrames,
} from '../../../shared/registry/layer_contents';
import {
  KNOWN_EMPTY_GZIP,
  gzipWithMtime,
  makeTar,
  zstdRawFrame,
  zstdSkippableFrame,
} from '../../../sandbox/image_builder';

// zlib compresses zstd from Node 22.15 on; before that a zstd layer cannot be opened.
const zstd = (zlib as unknown as {zstdCompressSync?: (b: Buffer) => Buffer})
  .zstdCompressSync;

function zstdCases() {
  if (!zstd) {
    return [
      {
        name: `zstd on Node ${process.versions.node}, which has no zstd`,
        blob: async () => zstdRawFrame(Buffer.alloc(1024)),
        want: /zstd layers open only on Node\.js 22\.15 or later .*check it there/,
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
      want: /truncated/,
    },
    {
      // Node's zstd alone returns nothing for this: it stops at the skippable frame.
      name: 'an empty tar behind a skippable frame (padding)',
      blob: async () =>
        Buffer.concat([zstdSkippableFrame(16), zstd(Buffer.alloc(1536))]),
      want: 0,
    },
    {
      // Node's zstd alone decodes the first frame only: half a tar.
      name: 'a tar in two frames and a trailing skippable frame (zstd:chunked)',
      blob: async () => {
        const tar = await makeTar({x: 'y', z: 'w'});
        return Buffer.concat([
          zstd(tar.subarray(0, 1024)),
          zstd(tar.subarray(1024)),
          zstdSkippableFrame(40),
        ]);
      },
      want: 2,
    },
    {
      name: 'raw zstd blocks, as test images write them',
      blob: async () => zstdRawFrame(await makeTar({x: 'y'})),
      want: 1,
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

describe('zstdFrames', () => {
  it('finds each data frame and skips skippable ones, without decoding', () => {
    const a = zstdRawFrame(Buffer.from('first'));
    const b = zstdRawFrame(Buffer.alloc(200_000, 1)); // two raw blocks
    const frames = zstdFrames(
      Buffer.concat([zstdSkippableFrame(3), a, b, zstdSkippableFrame(0)]),
    );
    assert.ok(Array.isArray(frames), String(frames));
    assert.deepStrictEqual(
      frames.map(f => [f.bytes.length, f.contentSize]),
      [
        [a.length, 5],
        [b.length, 200_000],
      ],
    );
  });
  const bad = [
    {
      name: 'a frame cut short',
      blob: zstdRawFrame(Buffer.alloc(100)).subarray(0, 50),
      want: /truncated/,
    },
    {
      name: 'a skippable frame longer than the blob',
      blob: zstdSkippableFrame(100).subarray(0, 20),
      want: /truncated/,
    },
    {
      name: 'bytes after the frames',
      blob: Buffer.concat([
        zstdRawFrame(Buffer.from('x')),
        Buffer.from('tail'),
      ]),
      want: /not a zstd frame \(at offset 13\)/,
    },
  ];
  for (const c of bad) {
    it(`refuses ${c.name}`, () => {
      const frames = zstdFrames(c.blob);
      assert.ok(
        typeof frames === 'string' && c.want.test(frames),
        String(frames),
      );
    });
  }
  it(`knows whether this Node.js (${process.versions.node}) opens zstd`, () =>
    assert.strictEqual(ZSTD_SUPPORTED, zstd !== undefined));
});
