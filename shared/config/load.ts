/** Reads the config file once per process and fails loudly when it is invalid. */
import * as path from 'node:path';
import {ConfigError} from '../errors';
import type {Settings} from '../settings';
import {
  formatProblem,
  parseSource,
  ProblemList,
  readText,
  type Problem,
} from './source';
import type {TextReader} from './template';
import type {PushrunConfig} from './types';
import {validateConfig} from './validate';

/** The config file to read: `file`, else `PUSHRUN_CONFIG`, else `config/pushrun.yaml`. */
export function configFile(
  file: string | undefined,
  settings: Pick<Settings, 'configFile'>,
): string {
  return file ?? settings.configFile;
}

/** The result of reading a config: the config when valid, and every problem (errors and warnings). */
export interface ConfigReading {
  readonly config?: PushrunConfig;
  readonly errors: readonly Problem[];
  readonly warnings: readonly Problem[];
}

/**
 * Reads and validates a config file without throwing; an unreadable file is one problem.
 * `read` reads it and its `jobFile`s (the disk by default).
 */
export function readConfig(
  file: string,
  read: TextReader = readText,
): ConfigReading {
  const text = read(file);
  if ('why' in text) {
    const problem: Problem = {
      file,
      line: 1,
      col: 1,
      message: `cannot read config: ${text.why}`,
      severity: 'error',
    };
    return {errors: [problem], warnings: []};
  }
  return parseConfig(text.text, file, read);
}

/** Validates config text as if read from `file` (`jobFile`s are read relative to its folder). */
export function parseConfig(
  text: string,
  file: string,
  read?: TextReader,
): ConfigReading {
  const parsed = parseSource(file, text);
  const problems = new ProblemList();
  problems.problems.push(...parsed.problems);
  if (parsed.problems.some(p => p.severity === 'error')) {
    return {errors: problems.errors, warnings: problems.warnings};
  }
  const {config} = validateConfig(parsed.source, problems, read);
  return {
    ...(config && {config}),
    errors: problems.errors,
    warnings: problems.warnings,
  };
}

const cache = new Map<string, PushrunConfig>();

/**
 * The config, read once per process: `file`, else `PUSHRUN_CONFIG`, else `config/pushrun.yaml`.
 * Throws ConfigError listing every `FILE:LINE:COL message` when the file is invalid.
 */
export function loadConfig(name: string): PushrunConfig {
  const key = path.resolve(name);
  const cached = cache.get(key);
  if (cached) return cached;
  const {config, errors} = readConfig(name);
  if (!config) {
    const problems = errors.map(formatProblem);
    throw new ConfigError(
      `invalid config ${name}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.join('\n')}`,
      problems,
    );
  }
  cache.set(key, config);
  return config;
}

/** Forgets configs read so far, so the next `loadConfig` reads the file again (tests). */
export function clearConfigCache(): void {
  cache.clear();
}
