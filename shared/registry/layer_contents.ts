/**
 * Opens a layer blob to count the entries of its tar, whatever the compression: an "empty" layer
 * is one whose tar holds nothing, and its digest depends on how it was compressed.
 */
import {gunzipSync} from 'node:zlib';
import * as zlib from 'node:zlib';
import {extract} from 'tar-stream';

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

/** Counts the entries of a layer's tar (gzip, zstd where Node has it, or plain). Never throws. */
export async function openLayer(blob: Buffer): Promise<LayerContents> {
  let tar: Buffer;
  try {
    if (startsWith(blob, GZIP_MAGIC)) tar = gunzipSync(blob);
    else if (startsWith(blob, ZSTD_MAGIC)) {
      if (!zstdDecompressSync) {
        return {
          unreadable: `zstd layers need Node 22.15 or later to open (this is Node ${process.versions.node})`,
        };
      }
      tar = zstdDecompressSync(blob);
      // Node's zstd reports no error for a truncated or corrupt frame, only no output; a tar,
      // even an empty one, is never nothing.
      if (tar.length === 0) {
        return {
          unreadable:
            'its zstd frame decompresses to nothing (truncated or corrupt)',
        };
      }
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

/** The number of entries in an uncompressed tar; zero blocks and end padding count for none. */
export function countTarEntries(tar: Buffer): Promise<number> {
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
