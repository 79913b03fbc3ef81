/** Checks the config's shape against `config/pushrun.schema.json`, locating each error in the YAML. */
import * as path from 'node:path';
import type {ErrorObject, ValidateFunction} from 'ajv';
import {AJV_OPTIONS} from './schema_options';
import type {NodePath, ProblemList, Source} from './source';

let validator: ValidateFunction | undefined;

/**
 * The schema's validator: the one `npm run build` compiled to code (scripts/compile-schema.js),
 * so a cold start loads it instead of compiling the schema; compiled here when it is missing.
 */
function compiled(): ValidateFunction {
  if (validator) return validator;
  try {
    validator = require('./schema_validator.js') as ValidateFunction;
  } catch (e) {
    if ((e as {code?: string}).code !== 'MODULE_NOT_FOUND') throw e;
    const Ajv = (require('ajv') as typeof import('ajv')).default;
    // From build/shared/config, the schema is config/ at the top of the package.
    const file = path.join(
      __dirname,
      '..',
      '..',
      '..',
      'config',
      'pushrun.schema.json',
    );
    validator = new Ajv(AJV_OPTIONS).compile(require(file));
  }
  return validator!;
}

/**
 * Validates `source.value` against the schema, recording each error at its node.
 * Returns the paths that had errors, so semantic checks can leave them alone.
 */
export function checkSchema(source: Source, problems: ProblemList): NodePath[] {
  const validate = compiled();
  if (validate(source.value)) return [];
  const failed: NodePath[] = [];
  for (const e of simplify(validate.errors ?? [])) {
    const {target, at, message} = describe(e, pointerToPath(e.instancePath));
    failed.push(target);
    problems.error(source, target, message, at);
  }
  return failed;
}

/** True when `path` is, or lies inside, or contains, one of `failed`. */
export function touchesFailed(path: NodePath, failed: readonly NodePath[]) {
  return failed.some(f => {
    const n = Math.min(f.length, path.length);
    for (let i = 0; i < n; i++)
      if (String(f[i]) !== String(path[i])) return false;
    return true;
  });
}

function pointerToPath(pointer: string): NodePath {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map(s => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map(s => (/^\d+$/.test(s) ? Number(s) : s));
}

function describe(
  e: ErrorObject,
  path: NodePath,
): {target: NodePath; at: 'key' | 'value'; message: string} {
  const where = path.length ? path.join('.') : 'the file';
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return {
        target: [...path, String(p.additionalProperty)],
        at: 'key',
        message: `unknown key "${p.additionalProperty}" in ${where}`,
      };
    case 'required':
      return {
        target: path,
        at: path.length ? 'key' : 'value',
        message: `${where} is missing "${p.missingProperty}"`,
      };
    case 'enum':
      return {
        target: path,
        at: 'value',
        message: `${where} must be one of ${(p.allowedValues as unknown[]).join(', ')}`,
      };
    case 'pattern':
      return {
        target: path,
        at: 'value',
        message:
          `${where} does not match ${p.pattern}` +
          (typeof e.parentSchema?.description === 'string'
            ? ` (${e.parentSchema.description})`
            : ''),
      };
    default:
      return {target: path, at: 'value', message: `${where} ${e.message}`};
  }
}

// A value of the wrong type also fails the keywords that only apply to that type; keep
// one error per node, preferring the type error.
function simplify(errors: ErrorObject[]): ErrorObject[] {
  const typed = new Set(
    errors.filter(e => e.keyword === 'type').map(e => e.instancePath),
  );
  const seen = new Set<string>();
  return errors.filter(e => {
    if (typed.has(e.instancePath) && e.keyword !== 'type') return false;
    const key = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
