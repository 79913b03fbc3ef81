/**
 * Batch job templates in proto3 JSON, read the way Google's parsers read them
 * (https://protobuf.dev/programming-guides/json/): field names in lowerCamel or as written in the
 * proto, `null` for a default, int64 as a string or a safe JSON number, enums by name or number.
 * Templates become `google.cloud.batch.v1.Job` message objects through proto3-json-serializer
 * against the protos shipped in `@google-cloud/batch`, then plain objects holding only the fields
 * that are set: a protobufjs instance would let the client read its prototype defaults as set
 * fields, and put an empty member of every `oneof` on the wire next to the real one.
 */
import * as protobuf from 'protobufjs';
import {fromProto3JSON, toProto3JSON} from 'proto3-json-serializer';

/** A Job in the form the Batch client takes: a plain `IJob` object with only set fields. */
export type JobMessage = Record<string, unknown>;

/** A proto3 JSON object as a template holds it. */
type JsonObject = Record<string, unknown>;

const JOB_TYPE_NAME = 'google.cloud.batch.v1.Job';
let jobType: protobuf.Type | undefined;

/** The `google.cloud.batch.v1.Job` type, loaded from `@google-cloud/batch`'s protos on first use. */
export function batchJobType(): protobuf.Type {
  if (!jobType) {
    const json = require('@google-cloud/batch/build/protos/protos.json');
    jobType = protobuf.Root.fromJSON(json).lookupType(JOB_TYPE_NAME);
    jobType.resolveAll();
  }
  return jobType;
}

/**
 * The name a field has in its `.proto` file. The bundled protos keep only the lowerCamel JSON
 * name; for the Batch protos the proto name is its snake_case form (a unit test checks every
 * field against the `.proto` files).
 */
export function protoFieldName(jsonName: string): string {
  return jsonName.replace(/[A-Z]/g, c => `_${c.toLowerCase()}`);
}

/** The field a template key names, by its JSON name or its proto name. */
function fieldOf(type: protobuf.Type, key: string): protobuf.Field | undefined {
  const byJsonName = type.fields[key];
  if (byJsonName) return byJsonName;
  const camel = protobuf.util.camelCase(key);
  const field = type.fields[camel];
  return field && protoFieldName(camel) === key ? field : undefined;
}

// Well-known types proto3 JSON writes as strings, and ones that take free-form JSON.
const STRING_TYPES = new Set([
  '.google.protobuf.Duration',
  '.google.protobuf.Timestamp',
  '.google.protobuf.FieldMask',
]);
const FREE_TYPES = new Set([
  '.google.protobuf.Struct',
  '.google.protobuf.Value',
  '.google.protobuf.ListValue',
  '.google.protobuf.Any',
]);

/** Something in a template the Job message cannot take, and where. */
export interface TemplateProblem {
  readonly path: (string | number)[];
  readonly message: string;
  /** `key` when the problem is the field's name rather than its value. */
  readonly at?: 'key';
}

/**
 * What in a proto3 JSON template Google's parser would refuse or misread, each with its path:
 * unknown fields (the serializer would silently drop them), a field given twice under its two
 * names, two members of one `oneof`, scalars of the wrong type, integers out of their field's
 * range or not whole, int64 numbers too large to be exact, and unknown enum names.
 */
export function jobTemplateProblems(json: unknown): TemplateProblem[] {
  const found: TemplateProblem[] = [];
  walkMessage(batchJobType(), json, [], 'Job', found);
  return found;
}

function walkMessage(
  type: protobuf.Type,
  json: unknown,
  path: (string | number)[],
  where: string,
  found: TemplateProblem[],
): void {
  if (json === null) return;
  if (typeof json !== 'object' || Array.isArray(json)) {
    found.push({path, message: `${where} must be an object`});
    return;
  }
  const seen = new Map<protobuf.Field, string>();
  const oneofMembers = new Map<protobuf.OneOf, string>();
  for (const [key, value] of Object.entries(json)) {
    const field = fieldOf(type, key);
    const at = [...path, key];
    const childWhere = `${where}.${key}`;
    if (!field) {
      found.push({
        path: at,
        message: `unknown field "${key}" in ${where}${spellingHint(type, key)}`,
        at: 'key',
      });
      continue;
    }
    const twin = seen.get(field);
    if (twin !== undefined) {
      found.push({
        path: at,
        message: `${where} sets "${field.name}" twice, as "${twin}" and "${key}"`,
        at: 'key',
      });
      continue;
    }
    seen.set(field, key);
    if (value === null) continue;
    const oneof = field.partOf;
    if (oneof) {
      const other = oneofMembers.get(oneof);
      if (other !== undefined) {
        found.push({
          path: at,
          message: `${where} sets both "${other}" and "${key}", but a Batch job takes only one of ${oneof.oneof.map(n => `"${n}"`).join(', ')}`,
          at: 'key',
        });
        continue;
      }
      oneofMembers.set(oneof, key);
    }
    if (field.repeated && !Array.isArray(value)) {
      found.push({path: at, message: `${childWhere} must be a list`});
      continue;
    }
    if (field.map && (typeof value !== 'object' || Array.isArray(value))) {
      found.push({path: at, message: `${childWhere} must be a map`});
      continue;
    }
    const items: [unknown, (string | number)[], string][] = field.repeated
      ? (value as unknown[]).map((v, i) => [
          v,
          [...at, i],
          `${childWhere}[${i}]`,
        ])
      : field.map
        ? Object.entries(value).map(([k, v]) => [
            v,
            [...at, k],
            `${childWhere}.${k}`,
          ])
        : [[value, at, childWhere]];
    const resolved = field.resolvedType;
    for (const [v, p, w] of items) {
      if (
        resolved instanceof protobuf.Type &&
        FREE_TYPES.has(resolved.fullName)
      )
        continue;
      if (v === null && (field.repeated || field.map)) {
        found.push({path: p, message: `${w} must not be null`});
        continue;
      }
      if (resolved instanceof protobuf.Type) {
        if (STRING_TYPES.has(resolved.fullName)) {
          if (typeof v !== 'string') {
            const example =
              resolved.name === 'Duration' ? ' such as "3600s"' : '';
            found.push({path: p, message: `${w} must be a string${example}`});
          }
          continue;
        }
        walkMessage(resolved, v, p, w, found);
      } else {
        const bad = scalarProblem(field, resolved, v);
        if (bad) found.push({path: p, message: `${w} ${bad}`});
      }
    }
  }
}

function spellingHint(type: protobuf.Type, key: string): string {
  const camel = key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  if (camel !== key && type.fields[camel]) return ` (write "${camel}")`;
  const lower = key.toLowerCase();
  const near = Object.keys(type.fields).find(n => n.toLowerCase() === lower);
  return near ? ` (write "${near}")` : '';
}

const INT_RANGES: Record<string, readonly [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};
const INTEGER_TEXT = /^-?(?:0|[1-9][0-9]*)$/;
const FLOAT_WORDS = new Set(['NaN', 'Infinity', '-Infinity']);

// What proto3 JSON accepts for a scalar or enum value, as Google's parsers check it.
function scalarProblem(
  field: protobuf.Field,
  type: protobuf.Enum | protobuf.Type | null,
  value: unknown,
): string | undefined {
  if (type instanceof protobuf.Enum) {
    if (typeof value === 'number' && Object.values(type.values).includes(value))
      return;
    if (typeof value === 'string' && value in type.values) return;
    return `must be one of ${Object.keys(type.values).join(', ')}`;
  }
  const range = INT_RANGES[field.type];
  if (range) return integerProblem(field.type, range, value);
  if (field.type === 'float' || field.type === 'double') {
    const ok =
      typeof value === 'number' ||
      (typeof value === 'string' &&
        (FLOAT_WORDS.has(value) ||
          (value.trim() !== '' && !isNaN(Number(value)))));
    return ok ? undefined : 'must be a number';
  }
  if (field.type === 'string' || field.type === 'bytes')
    return typeof value === 'string' ? undefined : 'must be a string';
  if (field.type === 'bool')
    return typeof value === 'boolean' ? undefined : 'must be true or false';
  return undefined;
}

function integerProblem(
  type: string,
  [min, max]: readonly [bigint, bigint],
  value: unknown,
): string | undefined {
  const wide = type.endsWith('64');
  let n: bigint;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return `must be a whole number (${type})`;
    // A JSON number past 2^53 has already lost digits when it was read.
    if (wide && !Number.isSafeInteger(value)) {
      return 'is past 2^53, where a number loses digits: write it in quotes, as a string';
    }
    n = BigInt(value);
  } else if (typeof value === 'string' && INTEGER_TEXT.test(value)) {
    n = BigInt(value);
  } else {
    return `must be a whole number (${type})`;
  }
  return n < min || n > max
    ? `must be between ${min} and ${max} (${type}), not ${n}`
    : undefined;
}

/**
 * A valid template in canonical form: lowerCamel field names, `null` fields left out (a
 * `google.protobuf.Value` keeps its null). Struct, Value and map keys are left as written.
 */
export function canonicalJobTemplate<T>(json: T): T {
  return canonicalMessage(batchJobType(), json) as T;
}

function canonicalMessage(type: protobuf.Type, json: unknown): unknown {
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    return json;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(json)) {
    const field = fieldOf(type, key);
    if (!field) {
      out[key] = value;
      continue;
    }
    const resolved = field.resolvedType;
    const free =
      resolved instanceof protobuf.Type && FREE_TYPES.has(resolved.fullName);
    if (value === null && !free) continue;
    const message =
      resolved instanceof protobuf.Type && !free ? resolved : undefined;
    const each = (v: unknown) => (message ? canonicalMessage(message, v) : v);
    out[field.name] = field.repeated
      ? (value as unknown[]).map(each)
      : field.map
        ? Object.fromEntries(
            Object.entries(value as JsonObject).map(([k, v]) => [k, each(v)]),
          )
        : each(value);
  }
  return out;
}

/**
 * The path in the template as written that a canonical path points at: each field is found
 * under whichever of its two names the template used.
 */
export function writtenPath(
  written: unknown,
  canonical: readonly (string | number)[],
): (string | number)[] {
  const out: (string | number)[] = [];
  let node = written;
  for (const step of canonical) {
    let key: string | number = step;
    if (typeof step === 'string' && node && typeof node === 'object') {
      key =
        Object.keys(node).find(
          k => k === step || protobuf.util.camelCase(k) === step,
        ) ?? step;
    }
    out.push(key);
    node = (node as Record<string | number, unknown> | undefined)?.[key];
  }
  return out;
}

/**
 * A canonical template (no problems) → the Job as the client takes it: a plain object holding
 * only the fields that are set, so that what the client encodes is what the template says.
 * Throws on a value the serializer refuses.
 */
export function toJobMessage(json: unknown): JobMessage {
  const type = batchJobType();
  const message = fromProto3JSON(type, json as never);
  if (!message) throw new Error('the job template is null');
  return type.toObject(message, {longs: String, enums: String}) as JobMessage;
}

/** A Job message object → readable proto3 JSON (durations as `"3600s"`, enums by name). */
export function jobToProto3JSON(job: JobMessage): JsonObject {
  const type = batchJobType();
  return toProto3JSON(type.fromObject(job)) as JsonObject;
}
