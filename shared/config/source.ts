import {errorMessage} from '../errors';
import * as fs from 'node:fs';
/** YAML (and JSON) sources that remember where each node came from, and problems that point at them. */
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
} from 'yaml';

/** A path into a parsed document: map keys and sequence indexes. */
export type NodePath = readonly (string | number)[];

/** A parsed file: its plain value and what is needed to find a node's line and column. */
export interface Source {
  readonly file: string;
  readonly value: unknown;
  readonly doc: Document.Parsed;
  readonly lineCounter: LineCounter;
}

/** The severities a problem may have. */
export const PROBLEM_SEVERITIES = ['error', 'warning'] as const;
/** `error` makes the config invalid; `warning` is printed and tolerated. */
export type ProblemSeverity = (typeof PROBLEM_SEVERITIES)[number];

/** One finding, located at a line and column (both 1-based). */
export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
  readonly severity: ProblemSeverity;
}

/** `FILE:LINE:COL message`, or `FILE:LINE:COL warning: message`. */
export function formatProblem(p: Problem): string {
  const where = `${p.file}:${p.line}:${p.col}`;
  return p.severity === 'warning'
    ? `${where} warning: ${p.message}`
    : `${where} ${p.message}`;
}

/** Parses YAML (JSON is YAML) keeping positions; syntax errors come back as problems. */
export function parseSource(
  file: string,
  text: string,
): {source: Source; problems: Problem[]} {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {lineCounter, prettyErrors: false});
  const problems: Problem[] = [];
  for (const e of [...doc.errors, ...doc.warnings]) {
    const {line, col} = lineCounter.linePos(e.pos[0]);
    problems.push({
      file,
      line,
      col,
      message: e.message.split('\n')[0],
      severity: doc.errors.includes(e as never) ? 'error' : 'warning',
    });
  }
  const value = doc.errors.length ? undefined : doc.toJS({maxAliasCount: 100});
  return {source: {file, value, doc, lineCounter}, problems};
}

/**
 * The 1-based line and column of the node at `path`, or of its key when `at` is `key`.
 * A path that runs past the document points at the deepest node that exists.
 */
export function positionOf(
  source: Source,
  path: NodePath,
  at: 'key' | 'value' = 'value',
): {line: number; col: number} {
  let node: unknown = source.doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find(
        p =>
          isPair(p) &&
          isScalar(p.key) &&
          String(p.key.value) === String(segment),
      );
      if (!pair) break;
      if (last && at === 'key') {
        offset = rangeStart(pair.key) ?? offset;
        break;
      }
      node = pair.value;
      offset = rangeStart(node) ?? rangeStart(pair.key) ?? offset;
    } else if (isSeq(node) && typeof segment === 'number') {
      if (segment < 0 || segment >= node.items.length) break;
      node = node.items[segment];
      offset = rangeStart(node) ?? offset;
    } else {
      break;
    }
  }
  return source.lineCounter.linePos(offset);
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as {range?: [number, number, number]} | null)?.range;
  return range?.[0];
}

/** Collects problems located in sources. */
export class ProblemList {
  readonly problems: Problem[] = [];

  /** Records an error at `path` in `source`. */
  error(
    source: Source,
    path: NodePath,
    message: string,
    at?: 'key' | 'value',
  ): void {
    this.add(source, path, message, 'error', at);
  }

  /** Records a warning at `path` in `source`. */
  warn(
    source: Source,
    path: NodePath,
    message: string,
    at?: 'key' | 'value',
  ): void {
    this.add(source, path, message, 'warning', at);
  }

  /** The errors, in file order. */
  get errors(): Problem[] {
    return this.sorted().filter(p => p.severity === 'error');
  }

  /** The warnings, in file order. */
  get warnings(): Problem[] {
    return this.sorted().filter(p => p.severity === 'warning');
  }

  private sorted(): Problem[] {
    // Files in the order they were first reported; positions in file order within each.
    const files = [...new Set(this.problems.map(p => p.file))];
    return [...this.problems].sort(
      (a, b) =>
        files.indexOf(a.file) - files.indexOf(b.file) ||
        a.line - b.line ||
        a.col - b.col,
    );
  }

  private add(
    source: Source,
    path: NodePath,
    message: string,
    severity: ProblemSeverity,
    at?: 'key' | 'value',
  ): void {
    const {line, col} = positionOf(source, path, at);
    this.problems.push({file: source.file, line, col, message, severity});
  }
}

/** A file's text, or why it cannot be read (`no such file`, or the error's message). */
export function readText(file: string): {text: string} | {why: string} {
  try {
    return {text: fs.readFileSync(file, 'utf8')};
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {why: code === 'ENOENT' ? 'no such file' : errorMessage(e)};
  }
}
