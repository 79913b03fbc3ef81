/** A mapping's job template: where it is read from, and whether Batch can take it. */
import * as path from 'node:path';
import {pushedImageContainers, unstreamableFields} from '../containers';
import {
  canonicalJobTemplate,
  jobTemplateProblems,
  toJobMessage,
  writtenPath,
} from '../batch/convert';
import {errorMessage} from '../errors';
import {
  fillTemplate,
  isPlaceholder,
  placeholdersIn,
  visitStrings,
  PLACEHOLDERS,
} from './placeholders';
import {
  parseSource,
  readText,
  type NodePath,
  type ProblemList,
  type Source,
} from './source';
import type {JobTemplate, StreamingPolicy} from './types';

type Json = Record<string, unknown>;

/** A mapping's job template and where it was written. */
export interface Template {
  readonly value: JobTemplate;
  readonly source: Source;
  /** Where the template sits in its source. */
  readonly at: NodePath;
}

/** Reads a file's text, or says why it cannot: the disk, or the files stored with a live version. */
export type TextReader = (file: string) => {text: string} | {why: string};

/**
 * The mapping's `job`, or the content of its `jobFile` (relative to the config file), read by
 * `read` (the disk by default).
 */
export function readTemplate(
  source: Source,
  at: NodePath,
  raw: Json,
  problems: ProblemList,
  read: TextReader = readText,
): Template | undefined {
  if (raw.job !== undefined && raw.jobFile !== undefined) {
    problems.error(
      source,
      [...at, 'jobFile'],
      'set either job or jobFile, not both',
      'key',
    );
    return undefined;
  }
  if (raw.job !== undefined) {
    return {value: raw.job as JobTemplate, source, at: [...at, 'job']};
  }
  if (raw.jobFile === undefined) {
    problems.error(
      source,
      [...at, 'name'],
      'the mapping needs a job or a jobFile',
      'key',
    );
    return undefined;
  }
  const jobFile = raw.jobFile as string;
  const file = path.join(path.dirname(source.file), jobFile);
  const text = read(file);
  if ('why' in text) {
    problems.error(
      source,
      [...at, 'jobFile'],
      `cannot read jobFile ${file}: ${text.why}`,
    );
    return undefined;
  }
  const parsed = parseSource(file, text.text);
  for (const p of parsed.problems) problems.problems.push(p);
  if (parsed.problems.some(p => p.severity === 'error')) return undefined;
  if (!isObject(parsed.source.value)) {
    problems.error(parsed.source, [], 'a job file holds one Batch Job object');
    return undefined;
  }
  return {
    value: parsed.source.value as JobTemplate,
    source: parsed.source,
    at: [],
  };
}

/** Checks a template; returns it in canonical form when Batch can take it. */
export function checkTemplate(
  t: Template,
  streaming: StreamingPolicy,
  problems: ProblemList,
): JobTemplate | undefined {
  const errorsBefore = problems.errors.length;
  visitStrings(t.value, (text, p) => {
    for (const name of placeholdersIn(text)) {
      if (!isPlaceholder(name)) {
        problems.error(
          t.source,
          [...t.at, ...p],
          `unknown placeholder \${${name}} (known: ${PLACEHOLDERS.join(', ')}; write $\${${name}} for a literal)`,
        );
      }
    }
  });
  const templateProblems = jobTemplateProblems(t.value);
  for (const p of templateProblems) {
    problems.error(t.source, [...t.at, ...p.path], p.message, p.at);
  }
  if (templateProblems.length) return undefined;
  const job = canonicalJobTemplate(t.value);
  const written = (p: readonly (string | number)[]) => [
    ...t.at,
    ...writtenPath(t.value, p),
  ];
  const groups = job.taskGroups;
  if (!Array.isArray(groups) || groups.length === 0) {
    problems.error(t.source, t.at, 'the job has no taskGroups');
  }
  const containers = pushedImageContainers(job);
  if (Array.isArray(groups) && groups.length && containers.length === 0) {
    problems.warn(
      t.source,
      written(['taskGroups']),
      'no container runnable runs the pushed image (leave imageUri out, or write ${IMAGE})',
    );
  }
  if (streaming !== 'off') {
    for (const c of containers) {
      for (const field of unstreamableFields(c.container)) {
        const message = `container field "${field}" is not allowed with image streaming`;
        const where = written([...c.path, field]);
        if (streaming === 'required') {
          problems.error(
            t.source,
            where,
            `${message}, and streaming is required`,
            'key',
          );
        } else {
          problems.warn(
            t.source,
            where,
            `${message}: this job will pull the image instead`,
            'key',
          );
        }
      }
    }
  }
  if (problems.errors.length > errorsBefore) return undefined;
  // Convert as the builder will, with sample values, so a template that validates also builds.
  try {
    toJobMessage(
      fillTemplate(job, {
        IMAGE: 'us-docker.pkg.dev/p/r/i@sha256:' + '0'.repeat(64),
        IMAGE_DIGEST: 'sha256:' + '0'.repeat(64),
        IMAGE_TAG: 'latest',
        IMAGE_NAME: 'us-docker.pkg.dev/p/r/i',
        MAPPING: 'mapping',
      }),
    );
  } catch (e) {
    problems.error(
      t.source,
      t.at,
      `the job is not a valid Batch Job: ${errorMessage(e)}`,
    );
    return undefined;
  }
  return job;
}

/** Whether `v` is a JSON object (not null, not an array). */
export function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
