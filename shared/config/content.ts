/**
 * A config as a live version holds it: the config file's text and the `jobFile:`s it reads,
 * validated by the same code as `config validate`, with a digest over its meaning (not its
 * comments or layout), so `config show` saved to a file applies as "nothing to apply".
 */
import {createHash} from 'node:crypto';
import * as path from 'node:path';
import canonicalize from 'canonicalize';
import {isMap, parseDocument, parse as parseYaml} from 'yaml';
import {parseConfig, readConfig, type ConfigReading} from './load';
import {readText} from './source';
import {isObject, type TextReader} from './template';
import type {ConfigContent, StoredFile} from './versions';

/** A config file read for storing: its validation, and the content when it is valid. */
export interface Bundle {
  readonly reading: ConfigReading;
  readonly content?: ConfigContent;
}

/** Reads `file` and every `jobFile:` it names, validating as `config validate` does. */
export function bundleConfig(
  file: string,
  read: TextReader = readText,
): Bundle {
  const dir = path.dirname(file);
  const files = new Map<string, string>();
  let text: string | undefined;
  const recording: TextReader = name => {
    const got = read(name);
    if ('text' in got) {
      if (name === file) text = got.text;
      else files.set(path.relative(dir, name), got.text);
    }
    return got;
  };
  const reading = readConfig(file, recording);
  if (!reading.config || text === undefined) return {reading};
  const stored: StoredFile[] = [...files].map(([p, t]) => ({path: p, text: t}));
  return {reading, content: {text, files: stored}};
}

/** The name problems of a stored version point at (`live-v3.yaml:12:5 …`). */
export function versionFileName(version: number): string {
  return `live-v${version}.yaml`;
}

/** Validates stored content with the same code as `config validate`, `jobFile`s from the store. */
export function readContent(
  content: ConfigContent,
  file: string,
): ConfigReading {
  return parseConfig(content.text, file, contentReader(content, file));
}

/** Reads `jobFile`s from a version's stored files, as the config file's folder would. */
function contentReader(content: ConfigContent, file: string): TextReader {
  const dir = path.dirname(file);
  const files = storedFiles(content);
  return name => {
    const text = files.get(path.relative(dir, name));
    return typeof text === 'string'
      ? {text}
      : {why: 'not stored with this version'};
  };
}

/** A version's stored `jobFile` texts by normalized path (none when the field is not a list). */
function storedFiles(content: ConfigContent): Map<string, unknown> {
  const stored = Array.isArray(content.files) ? content.files : [];
  return new Map(stored.map(f => [path.normalize(f.path), f.text]));
}

/**
 * The content's meaning: the config's value with each `jobFile:` replaced by the job it holds.
 * Two texts that differ only in comments, layout or where a job is written mean the same.
 */
export function resolvedValue(content: ConfigContent): Record<string, unknown> {
  // A stored version written by other hands may hold anything: it then means nothing.
  const root = tryParse(content.text);
  if (!isObject(root)) return {};
  const files = storedFiles(content);
  const mappings = Array.isArray(root.mappings) ? root.mappings : [];
  return {
    ...root,
    ...(Array.isArray(root.mappings) && {
      mappings: mappings.map(m => {
        if (!isObject(m) || typeof m.jobFile !== 'string') return m;
        const {jobFile, ...rest} = m;
        return {
          ...rest,
          job: tryParse(files.get(path.normalize(jobFile))),
        };
      }),
    }),
  };
}

/** sha256 (hex) over the canonical JSON (RFC 8785) of `resolvedValue`. */
export function contentDigest(content: ConfigContent): string {
  return createHash('sha256')
    .update(canonicalize(resolvedValue(content)) ?? '')
    .digest('hex');
}

/**
 * The content as one YAML file, as `config show` prints it: the config's own text (comments
 * kept), each `jobFile:` replaced by its job inline, so the file stands alone.
 */
export function contentYaml(content: ConfigContent): string {
  if (!Array.isArray(content.files) || content.files.length === 0)
    return String(content.text);
  const doc = parseDocument(content.text);
  const resolved = resolvedValue(content).mappings as unknown[];
  const mappings = doc.get('mappings');
  if (!isMap(doc.contents) || !mappings) return content.text;
  resolved.forEach((m, i) => {
    if (!isObject(m) || doc.getIn(['mappings', i, 'jobFile']) === undefined)
      return;
    doc.deleteIn(['mappings', i, 'jobFile']);
    doc.setIn(['mappings', i, 'job'], doc.createNode(m.job));
  });
  return doc.toString();
}

function tryParse(text: unknown): unknown {
  try {
    return typeof text === 'string' ? parseYaml(text) : undefined;
  } catch {
    return undefined;
  }
}
