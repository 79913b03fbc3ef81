/**
 * Opens a layer blob to count the entries of its tar, whatever the compression: an "empty" layer
 * is one whose tar holds nothing, and its digest depends on how it was compressed.
 */
import {gunzipSync} from 'node:zlib';
import * as zlib from 'node:zlib';

/** What opening a layer found: the number of tar entries, or why it could not tell. */
export type LayerContents = {entries: number} | {unreadable: string};

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(bytes: Buffer, magic: number[]): boolean {
  return magic.every((b, i) => bytes[i] === b);
}

// Node gained zstd in 22.15/23.8; on Node 20 zstd layers cannot be opened.
const zstdDecompressSync = (
  zlib as unknown as {zstdDecompressSync?: (b: Buffer) => Buffer}
).zstdDecompressSync;

/** Whether this Node.js can open zstd layers (22.15 and later). */
export const ZSTD_SUPPORTED = zstdDecompressSync !== undefined;

/** Counts the entries of a layer's tar (gzip, zstd where Node has it, or plain). Never throws. */
export async function openLayer(blob: Buffer): Promise<LayerContents> {
  let tar: Buffer;
  try {
    if (startsWith(blob, GZIP_MAGIC)) tar = gunzipSync(blob);
    else if (startsWith(blob, ZSTD_MAGIC) || isSkippableFrame(blob, 0)) {
      const out = zstdDecompress(blob);
      if (typeof out === 'string') return {unreadable: out};
      tar = out;
    } else tar = blob;
  } catch (e) {
    return {unreadable: `it does not decompress (${(e as Error).message})`};
  }
  try {
    return {entries: await countTarEntries(tar)};
  } catch (e) {
    return {unreadable: `it is not a tar archive (${(e as Error).message})`};
  }
}

/**
 * Decompresses every frame of a zstd stream; a string says why it could not. Node's zstd decodes
 * only the first frame, and nothing at all after a leading skippable frame (RFC 8878 §3.1.2,
 * which tools use as padding and `zstd:chunked` for its table of contents), so the frames are
 * found here and decoded one by one.
 */
function zstdDecompress(blob: Buffer): Buffer | string {
  if (!zstdDecompressSync) {
    return `zstd layers open only on Node.js 22.15 or later (this is Node.js ${process.versions.node}); check it there to look inside`;
  }
  const frames = zstdFrames(blob);
  if (typeof frames === 'string') return frames;
  const parts: Buffer[] = [];
  for (const frame of frames) {
    const out = zstdDecompressSync(frame.bytes);
    // Node reports no error for a corrupt frame, only less output than the frame declares.
    if (frame.contentSize !== undefined && out.length !== frame.contentSize) {
      return `a zstd frame declares ${frame.contentSize} bytes but decompresses to ${out.length} (corrupt)`;
    }
    parts.push(out);
  }
  const tar = Buffer.concat(parts);
  // A tar, even an empty one, is never nothing.
  return tar.length > 0
    ? tar
    : 'its zstd frames decompress to nothing (truncated or corrupt)';
}

/** One zstd frame: its bytes and the content size its header declares, if any. */
interface ZstdFrame {
  readonly bytes: Buffer;
  readonly contentSize?: number;
}

function isSkippableFrame(b: Buffer, at: number): boolean {
  // Magic 0x184D2A50..0x184D2A5F, little-endian.
  return (
    b.length >= at + 8 &&
    (b[at] & 0xf0) === 0x50 &&
    b[at + 1] === 0x2a &&
    b[at + 2] === 0x4d &&
    b[at + 3] === 0x18
  );
}

/**
 * Splits a zstd stream into its data frames, dropping skippable ones. Frame and block headers
 * give every length (RFC 8878 §3.1.1), so no decoding is needed; a string says what is wrong.
 */
export function zstdFrames(b: Buffer): ZstdFrame[] | string {
  const frames: ZstdFrame[] = [];
  let at = 0;
  const truncated = 'its zstd stream is truncated';
  while (at < b.length) {
    if (isSkippableFrame(b, at)) {
      at += 8 + b.readUInt32LE(at + 4);
      if (at > b.length) return truncated;
      continue;
    }
    if (!startsWith(b.subarray(at), ZSTD_MAGIC)) {
      return `it holds bytes after its zstd frames that are not a zstd frame (at offset ${at})`;
    }
    const start = at;
    if (at + 5 > b.length) return truncated;
    const descriptor = b[at + 4];
    const fcsFlag = descriptor >> 6;
    const singleSegment = (descriptor >> 5) & 1;
    const checksum = (descriptor >> 2) & 1;
    const dictionaryIdBytes = [0, 1, 2, 4][descriptor & 3];
    const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag];
    at += 5 + (singleSegment ? 0 : 1) + dictionaryIdBytes;
    if (at + fcsBytes > b.length) return truncated;
    const contentSize = frameContentSize(b, at, fcsBytes);
    at += fcsBytes;
    for (let last = false; !last;) {
      if (at + 3 > b.length) return truncated;
      const header = b.readUIntLE(at, 3);
      last = (header & 1) === 1;
      const type = (header >> 1) & 3;
      if (type === 3)
        return 'its zstd stream has a reserved block type (corrupt)';
      // An RLE block holds one byte, repeated Block_Size times when decoded.
      at += 3 + (type === 1 ? 1 : header >> 3);
    }
    at += checksum ? 4 : 0;
    if (at > b.length) return truncated;
    frames.push({
      bytes: b.subarray(start, at),
      ...(contentSize !== undefined && {contentSize}),
    });
  }
  return frames;
}

function frameContentSize(
  b: Buffer,
  at: number,
  bytes: number,
): number | undefined {
  switch (bytes) {
    case 1:
      return b[at];
    case 2:
      return b.readUInt16LE(at) + 256;
    case 4:
      return b.readUInt32LE(at);
    case 8:
      // Layers opened here are a few KiB; a size past 2^53 is no tar pushrun opens.
      return Number(b.readBigUInt64LE(at));
    default:
      return undefined;
  }
}

/** The number of entries in an uncompressed tar; zero blocks and end padding count for none. */
export async function countTarEntries(tar: Buffer): Promise<number> {
  // Loaded on first use: most checks open no layer.
  const {extract} = await import('tar-stream');
  return new Promise((resolve, reject) => {
    const ex = extract();
    let entries = 0;
    ex.on('entry', (_header, stream, next) => {
      entries++;
      stream.on('end', next);
      stream.resume();
    });
    ex.on('finish', () => resolve(entries));
    ex.on('error', reject);
    ex.end(tar);
  });
}
