/** Semantic checks of a schema-checked config, and its compilation into a typed `PushrunConfig`. */
import picomatch from 'picomatch';
import {GCR_HOST} from '../image_ref';
import {literalImageParts} from './image_glob';
import {isKnownRegion, isMultiRegion, locationContains} from '../locations';
import {errorMessage} from '../errors';
import {checkSchema, touchesFailed} from './schema';
import {
  formatProblem,
  positionOf,
  ProblemList,
  type NodePath,
  type Source,
} from './source';
import {compileTagFilter} from './tag_filter';
import {
  checkTemplate,
  isObject,
  readTemplate,
  type TextReader,
} from './template';
import {
  DEFAULT_NOTIFICATIONS,
  DEFAULTS,
  type Defaults,
  type Limits,
  type Mapping,
  type PushrunConfig,
  type StreamingPolicy,
  type SupersedePolicy,
  type TagFilter,
} from './types';

/** The outcome of validating one config source: the config when there are no errors. */
export interface Validation {
  readonly config?: PushrunConfig;
  readonly problems: ProblemList;
}

type Json = Record<string, unknown>;

/**
 * Validates a parsed config file and builds the typed config; `jobFile`s are read by `read`
 * relative to the file (from the disk unless a live version's stored files are given).
 */
export function validateConfig(
  source: Source,
  problems = new ProblemList(),
  read?: TextReader,
): Validation {
  const failed = checkSchema(source, problems);
  if (problems.errors.length && !isObject(source.value)) return {problems};
  const root = (source.value ?? {}) as Json;
  const clean = (p: NodePath) => !touchesFailed(p, failed);

  const d = (root.defaults ?? {}) as Json;
  const defaults: Defaults = {
    streaming: (d.streaming as StreamingPolicy) ?? DEFAULTS.streaming,
    platform: (d.platform as string) ?? DEFAULTS.platform,
    ...(typeof d.region === 'string' && {region: d.region}),
    ...(d.supersede !== undefined && {
      supersede: d.supersede as SupersedePolicy,
    }),
    ...(isObject(d.limits) && {limits: d.limits as Limits}),
  };
  if (
    defaults.region &&
    clean(['defaults', 'region']) &&
    !isKnownRegion(defaults.region)
  ) {
    problems.error(
      source,
      ['defaults', 'region'],
      `unknown region "${defaults.region}"`,
    );
  }
  const n = (root.notifications ?? {}) as Json;
  const notifications = {
    topic: (n.topic as string) ?? DEFAULT_NOTIFICATIONS.topic,
    batchEventsTopic:
      (n.batchEventsTopic as string) ?? DEFAULT_NOTIFICATIONS.batchEventsTopic,
  };

  const list = Array.isArray(root.mappings) ? (root.mappings as unknown[]) : [];
  if (Array.isArray(root.mappings) && list.length === 0) {
    problems.warn(
      source,
      ['mappings'],
      'no mappings: no push will start a job',
    );
  }
  const firstLine = new Map<string, number>();
  const mappings: Mapping[] = [];
  list.forEach((raw, i) => {
    const at: NodePath = ['mappings', i];
    // A name that breaks its pattern is reported by the schema; the rest of the mapping is
    // still worth checking, so one run of validate shows every problem.
    const broken = failed.filter(
      f => !(f.length === 3 && f[0] === 'mappings' && f[2] === 'name'),
    );
    if (touchesFailed(at, broken) || !isObject(raw)) return;
    const name = raw.name as string;
    const seen = firstLine.get(name);
    if (seen !== undefined) {
      problems.error(
        source,
        [...at, 'name'],
        `duplicate mapping name "${name}" (first used on line ${seen})`,
      );
    } else {
      firstLine.set(name, lineOf(source, [...at, 'name']));
    }
    const mapping = checkMapping(source, at, raw, defaults, problems, read);
    if (mapping) mappings.push(mapping);
  });

  if (problems.errors.length) return {problems};
  const config: PushrunConfig = {
    file: source.file,
    defaults,
    notifications,
    mappings,
    warnings: problems.warnings.map(formatProblem),
  };
  return {config, problems};
}

function checkMapping(
  source: Source,
  at: NodePath,
  raw: Json,
  defaults: Defaults,
  problems: ProblemList,
  read?: TextReader,
): Mapping | undefined {
  const errorsBefore = problems.errors.length;
  const name = raw.name as string;
  const match = raw.match as {image: string; tags?: string[]};
  const streaming = (raw.streaming as StreamingPolicy) ?? defaults.streaming;
  const region = raw.region as string | undefined;
  const imageAt = [...at, 'match', 'image'];

  let matchesImage: (name: string) => boolean = () => false;
  try {
    matchesImage = picomatch(match.image, {strictBrackets: true});
  } catch (e) {
    problems.error(source, imageAt, `invalid image glob: ${errorMessage(e)}`);
  }
  if (/[:@]/.test(match.image.split('/').slice(1).join('/'))) {
    problems.error(
      source,
      imageAt,
      'match.image is the image name without tag or digest: put tags under match.tags',
    );
  }
  checkLocation(source, at, match.image, region, defaults, streaming, problems);

  let tagFilters: TagFilter[] | undefined;
  if (match.tags) {
    tagFilters = [];
    match.tags.forEach((text, j) => {
      try {
        tagFilters!.push(compileTagFilter(text));
      } catch (e) {
        problems.error(source, [...at, 'match', 'tags', j], errorMessage(e));
      }
    });
  }

  const template = readTemplate(source, at, raw, problems, read);
  const job = template && checkTemplate(template, streaming, problems);

  if (problems.errors.length > errorsBefore || !template || !job)
    return undefined;
  return {
    name,
    imageGlob: match.image,
    matchesImage,
    ...(tagFilters && {tagFilters}),
    ...(region !== undefined && {region}),
    streaming,
    supersede:
      (raw.supersede as SupersedePolicy) ?? defaults.supersede ?? 'none',
    // Key by key: a mapping that sets one cap keeps the other from defaults.
    limits: {...defaults.limits, ...(raw.limits as Limits | undefined)},
    job,
    jobSource: template.source.file,
    imagePosition: {file: source.file, ...positionOf(source, imageAt)},
  };
}

function checkLocation(
  source: Source,
  at: NodePath,
  glob: string,
  region: string | undefined,
  defaults: Defaults,
  streaming: StreamingPolicy,
  problems: ProblemList,
): void {
  const imageAt = [...at, 'match', 'image'];
  const regionAt = [...at, 'region'];
  if (region !== undefined && !isKnownRegion(region)) {
    problems.error(source, regionAt, `unknown region "${region}"`);
    return;
  }
  const {host, location} = literalImageParts(glob);
  if (host && GCR_HOST.test(host) && streaming === 'required') {
    problems.error(
      source,
      imageAt,
      'streaming is required, but Batch cannot stream images from Container Registry (gcr.io); use Artifact Registry',
    );
  }
  if (host && !location && !region && !defaults.region) {
    problems.error(
      source,
      imageAt,
      'the image is not in Artifact Registry, so its region cannot be inferred: set region',
    );
  }
  if (!location) return;
  if (!isMultiRegion(location) && !isKnownRegion(location)) {
    problems.error(
      source,
      imageAt,
      `unknown Artifact Registry location "${location}"`,
    );
    return;
  }
  if (region === undefined) {
    if (isMultiRegion(location)) {
      problems.error(
        source,
        imageAt,
        `the image is in the multi-region "${location}": set region to a region inside it`,
      );
    }
    return;
  }
  if (!locationContains(location, region)) {
    const message = `region "${region}" is outside the image's location "${location}", so Batch cannot stream the image`;
    if (streaming === 'off')
      problems.warn(
        source,
        regionAt,
        `${message} (and pulls it across regions)`,
      );
    else problems.error(source, regionAt, message);
  }
}

function lineOf(source: Source, p: NodePath): number {
  return positionOf(source, p).line;
}
