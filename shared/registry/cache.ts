/**
 * Content fetched by digest never changes, so the process keeps it: checking a digest it has
 * checked before makes no request. Tags are never cached; they move.
 */
import type {FetchedManifest} from './registry';

/** Bytes kept before the oldest entries are dropped; configs and tiny layers are small. */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

/** A size-bounded map from digest to manifest or blob, dropping the oldest first. */
export class DigestCache {
  private readonly manifests = new Map<string, FetchedManifest>();
  private readonly blobs = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes = DEFAULT_CACHE_BYTES) {}

  /** The manifest with this digest, if fetched before. */
  manifest(digest: string): FetchedManifest | undefined {
    return this.manifests.get(digest);
  }

  /** Keeps a manifest under its digest. */
  putManifest(m: FetchedManifest): void {
    if (this.manifests.has(m.digest)) return;
    this.manifests.set(m.digest, m);
    this.grow(m.size);
  }

  /** The blob with this digest, if fetched before. */
  blob(digest: string): Buffer | undefined {
    return this.blobs.get(digest);
  }

  /** Keeps a blob under its digest. */
  putBlob(digest: string, bytes: Buffer): void {
    if (this.blobs.has(digest) || bytes.length > this.maxBytes) return;
    this.blobs.set(digest, bytes);
    this.grow(bytes.length);
  }

  private grow(n: number): void {
    this.bytes += n;
    while (this.bytes > this.maxBytes) {
      const blob = this.blobs.keys().next();
      if (!blob.done) {
        this.bytes -= this.blobs.get(blob.value)!.length;
        this.blobs.delete(blob.value);
        continue;
      }
      const manifest = this.manifests.keys().next();
      if (manifest.done) break;
      this.bytes -= this.manifests.get(manifest.value)!.size;
      this.manifests.delete(manifest.value);
    }
  }
}

/** The cache shared by every registry of the process (content by digest is the same everywhere). */
export const PROCESS_CACHE = new DigestCache();
