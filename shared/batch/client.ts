/**
 * The one real adapter of `BatchJobs`, over `@google-cloud/batch`. The client library is loaded
 * and the client created on the first call, so a cold start that never reaches Batch skips them.
 * API reference: https://cloud.google.com/batch/docs/reference/rpc/google.cloud.batch.v1
 */
import type {BatchServiceClient} from '@google-cloud/batch';
import type {CallOptions, ClientOptions} from 'google-gax';
import {PermanentError, TransientError, errorMessage} from '../errors';
import type {Settings} from '../settings';
import {toBatchJob, type BatchJobs} from './jobs';

/** gRPC status codes, as numbers (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
const CODE = {
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  RESOURCE_EXHAUSTED: 8,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/**
 * Codes a later attempt can get past. UNKNOWN is included because grpc-js reports a dropped
 * connection or a proxy's non-gRPC reply as UNKNOWN; INTERNAL is Google's "retry" advice for
 * server faults. Anything else (INVALID_ARGUMENT, PERMISSION_DENIED, ...) needs a human.
 */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  CODE.UNKNOWN,
  CODE.DEADLINE_EXCEEDED,
  CODE.RESOURCE_EXHAUSTED,
  CODE.ABORTED,
  CODE.INTERNAL,
  CODE.UNAVAILABLE,
]);

/** The numeric gRPC status code of an error, if it carries one. */
export function grpcCode(err: unknown): number | undefined {
  const code = (err as {code?: unknown} | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Whether a gRPC error may pass on retry: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
 * ABORTED, INTERNAL, UNKNOWN. An error without a code (e.g. a socket error) counts as transient.
 */
export function isTransientGrpcError(err: unknown): boolean {
  const code = grpcCode(err);
  return code === undefined || TRANSIENT_CODES.has(code);
}

/** Wraps a failed Batch call in the error class that says whether to retry. */
export function classifyBatchError(what: string, err: unknown): Error {
  const message = `Batch ${what} failed: ${errorMessage(err)}`;
  return isTransientGrpcError(err)
    ? new TransientError(message, {cause: err})
    : new PermanentError(message, {cause: err});
}

/**
 * Client options: Google's endpoint with ADC, or with `PUSHRUN_BATCH_ENDPOINT` a plaintext
 * channel and no credentials at all (gax skips auth when `sslCreds` is given).
 */
export function batchClientOptions(settings: Settings): ClientOptions {
  const endpoint = settings.batchEndpoint;
  if (!endpoint) return {};
  // google-gax's own grpc-js: channel credentials must come from the copy the client uses.
  const {grpc} = require('google-gax') as typeof import('google-gax');
  return {
    apiEndpoint: endpoint.host,
    port: endpoint.port,
    sslCreds: grpc.credentials.createInsecure(),
    // Stated, so gax's universe-domain check does not go looking for credentials (ADC).
    universeDomain: 'googleapis.com',
  };
}

/**
 * No gax auto-retry for createJob: the function is redelivered by Pub/Sub, so one bounded
 * attempt is enough and a dead endpoint fails in seconds, not the default 10 minutes.
 */
const CREATE_CALL: CallOptions = {timeout: 30_000, retry: null};
/** cancelJob answers at once with an operation; one bounded attempt, like createJob. */
const CANCEL_CALL: CallOptions = {timeout: 30_000, retry: null};
/** getJob is idempotent: gax retries UNAVAILABLE, but at most three attempts in all (about 2 s). */
const GET_CALL: CallOptions = {timeout: 30_000, maxRetries: 3};

/** The real adapter; the BatchServiceClient is created once, on first use (cold start). */
export function makeBatchJobs(settings: Settings): BatchJobs {
  let client: BatchServiceClient | undefined;
  const batch = () => {
    if (!client) {
      const {BatchServiceClient} =
        require('@google-cloud/batch') as typeof import('@google-cloud/batch');
      client = new BatchServiceClient(batchClientOptions(settings));
    }
    return client;
  };
  return {
    async createJob(req) {
      try {
        const [job] = await batch().createJob(
          {
            parent: req.parent,
            jobId: req.jobId,
            job: req.job,
            ...(req.requestId ? {requestId: req.requestId} : {}),
          },
          CREATE_CALL,
        );
        return {created: true, job: toBatchJob(job as Record<string, unknown>)};
      } catch (err) {
        if (grpcCode(err) === CODE.ALREADY_EXISTS) {
          return {created: false, alreadyExists: true};
        }
        throw classifyBatchError(
          `createJob ${req.parent}/jobs/${req.jobId}`,
          err,
        );
      }
    },
    async getJob(name) {
      try {
        const [job] = await batch().getJob({name}, GET_CALL);
        return toBatchJob(job as Record<string, unknown>);
      } catch (err) {
        if (grpcCode(err) === CODE.NOT_FOUND) return undefined;
        throw classifyBatchError(`getJob ${name}`, err);
      }
    },
    async cancelJob(name) {
      try {
        // The operation is not polled: the job's own state messages report the cancellation.
        await batch().cancelJob({name}, CANCEL_CALL);
        return 'cancelling';
      } catch (err) {
        if (grpcCode(err) === CODE.FAILED_PRECONDITION)
          return 'not-cancellable';
        if (grpcCode(err) === CODE.NOT_FOUND) return 'not-found';
        throw classifyBatchError(`cancelJob ${name}`, err);
      }
    },
  };
}
