/**
 * Where live config versions live (DESIGN.md "Live config"): numbered, self-contained versions
 * behind a small interface, with a Firestore adapter and an in-memory one, like `RunStore`.
 */

import {VersionTooLargeError} from '../errors';

/** The Firestore collection of config versions, in the run store's database. */
export const VERSIONS_COLLECTION = 'pushrun-config-versions';

/**
 * Firestore refuses documents over 1 MiB (https://cloud.google.com/firestore/quotas); a version
 * is refused a little below that, leaving room for the field names and the document name.
 */
export const MAX_VERSION_BYTES = 1_048_576 - 16_384;

/** The fields of `VersionSummary`: what a "which version is newest" read asks for. */
export const SUMMARY_FIELDS: readonly string[] = [
  'version',
  'appliedAt',
  'appliedBy',
  'message',
  'mappings',
  'sha256',
];

/** A file stored with a version: a `jobFile:` as the config names it, and its text. */
export interface StoredFile {
  /** The path relative to the config file's folder, normalised (`jobs/trainer.json`). */
  readonly path: string;
  readonly text: string;
}

/** A config as stored: the config file's text and every `jobFile:` it reads. */
export interface ConfigContent {
  readonly text: string;
  readonly files: readonly StoredFile[];
}

/** What `history` lists about a version; everything but the content. */
export interface VersionSummary {
  /** 1, 2, …: one more than the version before. */
  readonly version: number;
  readonly appliedAt: Date;
  /** The Google identity of whoever applied it, else `unknown`. */
  readonly appliedBy: string;
  readonly message?: string;
  /** The mapping names, in file order. */
  readonly mappings: readonly string[];
  /** sha256 (hex) of the content's canonical form (see `contentDigest`). */
  readonly sha256: string;
}

/** A stored version with its content. */
export interface StoredVersion extends VersionSummary {
  readonly content: ConfigContent;
}

/** A version about to be applied; the store gives it its number. */
export type VersionDraft = Omit<StoredVersion, 'version'>;

/** How an apply went: stored as `version`, or refused because `newer` came first. */
export type ApplyResult =
  | {readonly kind: 'applied'; readonly version: number}
  | {readonly kind: 'conflict'; readonly newer: VersionSummary};

/** Config versions. Implementations throw on faults (TransientError when a retry may pass). */
export interface ConfigVersionStore {
  /** The newest version without its content: one small read. */
  newest(): Promise<VersionSummary | undefined>;
  /** The newest version with its content, in one read (a cold instance's first look). */
  newestContent(): Promise<StoredVersion | undefined>;
  /** One version with its content. */
  get(version: number): Promise<StoredVersion | undefined>;
  /** Versions newest first, at most `limit`. */
  list(limit: number): Promise<VersionSummary[]>;
  /**
   * Stores `draft` as version `expected + 1` if the newest version is still `expected` (0: none),
   * in one transaction; otherwise stores nothing and names the newer version.
   */
  apply(draft: VersionDraft, expected: number): Promise<ApplyResult>;
}

/** What the functions read: the newest version (with or without content), and one version. */
export type ConfigVersionReader = Pick<
  ConfigVersionStore,
  'newest' | 'newestContent' | 'get'
>;

/** The document id of a version: zero-padded, so ids sort as the numbers do. */
export function versionDocId(version: number): string {
  return `v${String(version).padStart(6, '0')}`;
}

/** The summary part of a version. */
export function summaryOf(v: VersionSummary): VersionSummary {
  return {
    version: v.version,
    appliedAt: v.appliedAt,
    appliedBy: v.appliedBy,
    ...(v.message !== undefined && {message: v.message}),
    mappings: v.mappings,
    sha256: v.sha256,
  };
}

/** Refuses a draft too large to store (VersionTooLargeError), before any write. */
export function checkVersionSize(draft: VersionDraft): void {
  const bytes = Buffer.byteLength(JSON.stringify(draft), 'utf8');
  if (bytes > MAX_VERSION_BYTES) {
    throw new VersionTooLargeError(
      `this config is ${bytes} bytes with its job files, over the ${MAX_VERSION_BYTES}-byte limit of a stored version (Firestore holds at most 1 MiB per document): nothing stored; make the job files smaller`,
    );
  }
}
