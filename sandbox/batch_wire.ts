/**
 * The wire side of the Batch stand-in (a fake, for tests and the sandbox only): the
 * `google.cloud.batch.v1.BatchService` definition loaded from the protos inside
 * `@google-cloud/batch`, the checks Batch makes on names and create requests, and the dispatch
 * that records each request's bytes and refuses what Google's runtime would read differently.
 */
import {randomUUID} from 'node:crypto';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';

/** One request as received: decoded with the loader options below, and its bytes. */
export interface RecordedRequest {
  method: string;
  request: Record<string, unknown>;
  raw: Buffer;
}

const JOB_ID = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const PARENT = /^projects\/[^/]+\/locations\/[^/]+$/;
const JOB_NAME = /^(projects\/[^/]+\/locations\/[^/]+)\/jobs\/[^/]+$/;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;

const PROTO_ROOT = path.join(
  path.dirname(require.resolve('@google-cloud/batch/package.json')),
  'build',
  'protos',
);
// google/api, google/longrunning, google/rpc come with google-gax; well-known types with protobufjs.
const GAX_PROTOS = path.join(
  path.dirname(require.resolve('google-gax')),
  '..',
  'protos',
);

/**
 * camelCase names, as the client's message objects use them; enums as names and int64 as
 * strings, like the client; no defaults, so `requests` shows exactly what was sent.
 */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_ROOT, GAX_PROTOS],
};

type ServiceDef = grpc.ServiceDefinition<grpc.UntypedServiceImplementation>;

function loadBatchService(): ServiceDef {
  const def = protoLoader.loadSync(
    'google/cloud/batch/v1/batch.proto',
    LOADER_OPTIONS,
  );
  return def['google.cloud.batch.v1.BatchService'] as ServiceDef;
}

// The request's bytes ride along with the decoded object, for the recording and the oneof check.
const RAW = Symbol('raw request bytes');

let batchRoot: protobuf.Root | undefined;

/** A `google.protobuf.Timestamp` message object. */
export function timestamp(ms: number): {seconds: string; nanos: number} {
  return {
    seconds: String(Math.floor(ms / 1000)),
    nanos: (ms % 1000) * 1e6,
  };
}

/**
 * The `google.longrunning.Operation` Batch answers a delete or cancel of job `name` with, and
 * its `OperationMetadata`: a delete done at once (an empty response), a cancel still running
 * (the job's state tells when it ends).
 */
export function jobOperation(
  name: string,
  verb: 'delete' | 'cancel',
): Record<string, unknown> {
  return {
    name: `${name.replace(/\/jobs\/.*/, '')}/operations/${randomUUID()}`,
    done: verb === 'delete',
    metadata: packAny('google.cloud.batch.v1.OperationMetadata', {
      createTime: timestamp(Date.now()),
      target: name,
      verb,
      apiVersion: 'v1',
    }),
    ...(verb === 'delete' && {
      response: {
        typeUrl: 'type.googleapis.com/google.protobuf.Empty',
        value: Buffer.alloc(0),
      },
    }),
  };
}

/** `value` encoded as a `google.protobuf.Any` of the Batch type `typeName`, as Batch packs it. */
function packAny(
  typeName: string,
  value: Record<string, unknown>,
): {typeUrl: string; value: Buffer} {
  const type = protoRoot().lookupType(typeName);
  return {
    typeUrl: `type.googleapis.com/${typeName}`,
    value: Buffer.from(type.encode(type.fromObject(value)).finish()),
  };
}

function protoRoot(): protobuf.Root {
  return (batchRoot ??= protobuf.Root.fromJSON(
    require('@google-cloud/batch/build/protos/protos.json'),
  ));
}

/**
 * The first `oneof` that the message sets two members of, as "Type.a and Type.b (oneof o)".
 * protobufjs decodes every field on the wire as an own property, so both members show.
 */
export function oneofConflict(
  typeName: string,
  bytes: Uint8Array,
): string | undefined {
  const type = protoRoot().lookupType(typeName);
  return conflictIn(type, type.decode(bytes), typeName.split('.').pop()!);
}

function conflictIn(
  type: protobuf.Type,
  message: object,
  where: string,
): string | undefined {
  const has = (name: string) =>
    Object.prototype.hasOwnProperty.call(message, name);
  for (const oneof of type.oneofsArray) {
    const set = oneof.oneof.filter(has);
    if (set.length > 1) {
      return `${where} sets ${set.join(' and ')} of oneof ${oneof.name}; Batch reads only the last`;
    }
  }
  for (const field of type.fieldsArray) {
    const sub = field.resolve().resolvedType;
    if (!(sub instanceof protobuf.Type) || !has(field.name)) continue;
    const value = (message as Record<string, unknown>)[field.name];
    const items: [string, unknown][] = field.repeated
      ? (value as unknown[]).map((v, i) => [`${where}.${field.name}[${i}]`, v])
      : field.map
        ? Object.entries(value as object).map(([k, v]) => [
            `${where}.${field.name}.${k}`,
            v,
          ])
        : [[`${where}.${field.name}`, value]];
    for (const [w, v] of items) {
      const found = conflictIn(sub, v as object, w);
      if (found) return found;
    }
  }
  return undefined;
}

/** An error answered with its gRPC status. */
export class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/** The parent of a create or list request, checked as Batch does. */
export function checkParent(req: Record<string, unknown>): string {
  const parent = String(req.parent ?? '');
  if (!PARENT.test(parent)) {
    throw new RpcError(
      grpc.status.INVALID_ARGUMENT,
      `parent must be projects/PROJECT/locations/LOCATION, got "${parent}"`,
    );
  }
  return parent;
}

/** The job name of a get, delete or cancel request, checked as Batch does. */
export function checkJobName(req: Record<string, unknown>): string {
  const name = String(req.name ?? '');
  if (!JOB_NAME.test(name)) {
    throw new RpcError(
      grpc.status.INVALID_ARGUMENT,
      `name must be projects/PROJECT/locations/LOCATION/jobs/JOB, got "${name}"`,
    );
  }
  return name;
}

/** A CreateJob request's parent, job id and job, refused as Batch refuses them. */
export function checkCreateRequest(req: Record<string, unknown>): {
  parent: string;
  jobId: string;
  job: Record<string, unknown>;
  groups: Record<string, unknown>[];
} {
  const parent = checkParent(req);
  const jobId = String(req.jobId || `job-${randomUUID().slice(0, 8)}`);
  if (!JOB_ID.test(jobId)) {
    throw new RpcError(
      grpc.status.INVALID_ARGUMENT,
      `job_id "${jobId}" must match ${JOB_ID.source}`,
    );
  }
  const job = req.job as Record<string, unknown> | undefined;
  if (!job) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'job is required');
  const groups = job.taskGroups as unknown[] | undefined;
  if (!Array.isArray(groups) || groups.length !== 1) {
    throw new RpcError(
      grpc.status.INVALID_ARGUMENT,
      'job.task_groups must hold exactly one task group',
    );
  }
  for (const [k, v] of Object.entries(
    (job.labels ?? {}) as Record<string, string>,
  )) {
    if (!LABEL_KEY.test(k) || !LABEL_VALUE.test(v)) {
      throw new RpcError(
        grpc.status.INVALID_ARGUMENT,
        `label ${k}=${v} is not a valid label`,
      );
    }
  }
  return {parent, jobId, job, groups: groups as Record<string, unknown>[]};
}

/**
 * The service definition and its implementation: every request is recorded with its bytes,
 * then refused when it sets two members of a oneof or a fault is queued for its method, then
 * answered by `handlers` (UNIMPLEMENTED for a method without one).
 */
export function batchService(
  handlers: Record<string, (req: Record<string, unknown>) => unknown>,
  requests: RecordedRequest[],
  takeFault: (method: string) => grpc.status | undefined,
): [ServiceDef, grpc.UntypedServiceImplementation] {
  const service = loadBatchService();
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [key, method] of Object.entries(service)) {
    const rpcName = method.path.split('/').pop()!;
    const handler = handlers[rpcName];
    const decode = method.requestDeserialize;
    method.requestDeserialize = (bytes: Buffer) =>
      Object.assign(decode(bytes) as object, {[RAW]: Buffer.from(bytes)});
    impl[key] = (
      call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      const raw = (call.request as {[RAW]?: Buffer})[RAW] ?? Buffer.alloc(0);
      requests.push({method: rpcName, request: call.request, raw});
      const conflict = oneofConflict(
        `google.cloud.batch.v1.${rpcName}Request`,
        raw,
      );
      if (conflict) {
        callback({
          code: grpc.status.INVALID_ARGUMENT,
          details: `stand-in: ${conflict}`,
        });
        return;
      }
      const fault = takeFault(rpcName);
      if (fault !== undefined) {
        callback({
          code: fault,
          details: `stand-in: injected ${grpc.status[fault]}`,
        });
        return;
      }
      if (!handler) {
        callback({
          code: grpc.status.UNIMPLEMENTED,
          details: `stand-in: ${rpcName} is not implemented`,
        });
        return;
      }
      try {
        callback(null, handler(call.request));
      } catch (err) {
        if (err instanceof RpcError) {
          callback({code: err.code, details: err.message});
        } else {
          callback({code: grpc.status.INTERNAL, details: String(err)});
        }
      }
    };
  }
  return [service, impl];
}
