/** Checks the config's shape against `config/pushrun.schema.json`, locating each error in the YAML. */
import Ajv, {type ErrorObject, type ValidateFunction} from 'ajv';
import schema from '../../config/pushrun.schema.json';
import type {NodePath, ProblemList, Source} from './source';

let validator: ValidateFunction | undefined;

function compiled(): ValidateFunction {
  // Compiled on first use: a function instance pays for it once, on the first event.
  validator ??= new Ajv({
    allErrors: true,
    // Keeps each error's schema node, whose description says what a pattern wants.
    verbose: true,
    strict: true,
    allowUnionTypes: true,
  }).compile(schema);
  return validator;
}

/** The JSON Schema of the config file. */
export const CONFIG_SCHEMA: Readonly<Record<string, unknown>> = schema;

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
