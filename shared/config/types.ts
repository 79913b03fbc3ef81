/** The typed, validated shape of `config/pushrun.yaml` (DESIGN.md config contract). */

/** How a mapping treats image streaming. */
export const STREAMING_POLICIES = ['auto', 'required', 'off'] as const;
/** `auto`: stream when possible, else pull; `required`: stream or skip; `off`: always pull. */
export type StreamingPolicy = (typeof STREAMING_POLICIES)[number];

/** Which older runs of the same image a mapping's new run cancels (DESIGN.md "Guardrails and proof"). */
export const SUPERSEDE_POLICIES = ['none', 'queued', 'running'] as const;
/** `none`: cancel nothing; `queued`: runs Batch has QUEUED or SCHEDULED; `running`: RUNNING too. */
export type SupersedePolicy = (typeof SUPERSEDE_POLICIES)[number];
/** True when `value` names a supersede policy. */
export function isSupersedePolicy(value: unknown): value is SupersedePolicy {
  return (SUPERSEDE_POLICIES as readonly unknown[]).includes(value);
}

/** Caps on what a mapping launches; a cap left out does not apply. */
export interface Limits {
  /** Launches in any rolling hour. */
  readonly maxRunsPerHour?: number;
  /** Launched runs not yet finished. */
  readonly maxConcurrentRuns?: number;
}

/** The kinds of tag filter a mapping may list under `match.tags`. */
export const TAG_FILTER_KINDS = ['glob', 'semver', 'regex'] as const;
/** `glob` (default), `semver:` range, or `regex:` full match. */
export type TagFilterKind = (typeof TAG_FILTER_KINDS)[number];

/** One compiled entry of `match.tags`. */
export interface TagFilter {
  readonly kind: TagFilterKind;
  /** The filter as written, e.g. `semver:>=2.0.0`. */
  readonly text: string;
  readonly test: (tag: string) => boolean;
}

/** A Batch v1 Job template in proto3 JSON, placeholders not yet filled. */
export type JobTemplate = Readonly<Record<string, unknown>>;

/** One entry of `mappings`, validated and with its matchers compiled. */
export interface Mapping {
  readonly name: string;
  /** The `match.image` glob, over `host/path` of the image (no tag or digest). */
  readonly imageGlob: string;
  readonly matchesImage: (imageName: string) => boolean;
  /** Absent: any push matches, tagged or not. Present: a tagged push matching one filter. */
  readonly tagFilters?: readonly TagFilter[];
  /** Where the job runs; absent: the image's own region. */
  readonly region?: string;
  readonly streaming: StreamingPolicy;
  /** The mapping's own, else `defaults.supersede`, else `none`. */
  readonly supersede: SupersedePolicy;
  /** The mapping's own caps over those of `defaults.limits`, key by key; `{}`: no cap. */
  readonly limits: Limits;
  readonly job: JobTemplate;
  /** The file the template was read from (the config file or its `jobFile`). */
  readonly jobSource: string;
  /** Where `match.image` is written, for problems found later (`config validate --online`). */
  readonly imagePosition: SourcePosition;
}

/** A place in a file; line and column are 1-based. */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** The `defaults` section. */
export interface Defaults {
  readonly streaming: StreamingPolicy;
  /** `os/arch[/variant]`: the child of a multi-arch index the jobs run. */
  readonly platform: string;
  /** Where jobs run when neither the mapping nor the image says. */
  readonly region?: string;
  /** Every mapping's supersede policy unless it sets its own. */
  readonly supersede?: SupersedePolicy;
  /** Every mapping's caps unless it sets its own. */
  readonly limits?: Limits;
}

/** The `notifications` section: topic names in the project (or full `projects/P/topics/T`). */
export interface Notifications {
  readonly topic: string;
  readonly batchEventsTopic: string;
}

/** The whole validated config. */
export interface PushrunConfig {
  /** The file it was loaded from. */
  readonly file: string;
  readonly defaults: Defaults;
  readonly notifications: Notifications;
  readonly mappings: readonly Mapping[];
  /** `FILE:LINE:COL warning: …` lines found while validating. */
  readonly warnings: readonly string[];
}

/** The default values of keys left out of the file. */
export const DEFAULTS: Defaults = {streaming: 'auto', platform: 'linux/amd64'};
/** The default topic names. */
export const DEFAULT_NOTIFICATIONS: Notifications = {
  topic: 'pushrun-notifications',
  batchEventsTopic: 'pushrun-batch-events',
};
