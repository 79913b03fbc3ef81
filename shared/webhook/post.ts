/**
 * Posting a run's message to the webhook (`PUSHRUN_WEBHOOK_URL`, a secret never logged), with
 * retries that honour 429 `Retry-After` inside a fixed time budget.
 */
import {errorMessage} from '../errors';
import {Logger, makeLogger} from '../log';
import type {RunRecord} from '../runs/record';
import {webhookBody, webhookKind} from './cards';
import type {RunContext} from './message';

/** Tries per message: the first post and two retries. */
export const WEBHOOK_ATTEMPTS = 3;

/**
 * All the time one message may take, waits included. The notifier runs inside the
 * notification claim (NOTIFY_LEASE_MS, 30 s) and a function call (60 s by default): past the
 * lease another delivery would take over and publish to the topic again. A `Retry-After`
 * that does not fit is not waited for.
 */
export const WEBHOOK_BUDGET_MS = 15_000;

const REQUEST_TIMEOUT_MS = 10_000;

/** How to post; everything has a default. */
export interface PostOptions {
  readonly fetch?: typeof fetch;
  readonly log?: Logger;
  readonly attempts?: number;
  readonly budgetMs?: number;
  /** What the store adds to the message (the pulled runs' median startup). */
  readonly context?: RunContext;
}

/**
 * Posts a run's message, retrying a 429 or 5xx (after `Retry-After` when given) and network
 * errors, within `budgetMs`. Failures are logged with the URL redacted and never thrown: the
 * webhook is a courtesy, and a throw here would publish the topic message again. Resolves to
 * whether the webhook accepted it.
 */
export async function postWebhook(
  record: RunRecord,
  url: string,
  options: PostOptions = {},
): Promise<boolean> {
  const fetchFn = options.fetch ?? fetch;
  const log = options.log ?? makeLogger();
  const attempts = options.attempts ?? WEBHOOK_ATTEMPTS;
  const deadline = Date.now() + (options.budgetMs ?? WEBHOOK_BUDGET_MS);
  const kind = webhookKind(url);
  const body = JSON.stringify(webhookBody(record, kind, options.context));
  let last = '';
  let rateLimited = false;
  for (let attempt = 1; ; attempt++) {
    let waitMs = 250 * 2 ** attempt;
    try {
      const res = await fetchFn(url, {
        method: 'POST',
        headers: {'content-type': 'application/json; charset=UTF-8'},
        body,
        signal: AbortSignal.timeout(
          Math.max(1, Math.min(REQUEST_TIMEOUT_MS, deadline - Date.now())),
        ),
      });
      if (res.ok) return true;
      last = `HTTP ${res.status}`;
      rateLimited = res.status === 429;
      if (res.status < 500 && !rateLimited) break; // a retry will not change the answer
      waitMs = retryAfterMs(res.headers.get('retry-after')) ?? waitMs;
    } catch (e) {
      // fetch errors can quote the URL (and its secret key/token): never let it through.
      last = redact(describe(e), url);
      rateLimited = false;
    }
    if (attempt >= attempts) break;
    if (Date.now() + waitMs >= deadline) {
      last += `; next try in ${Math.ceil(waitMs / 1000)} s would pass the time budget`;
      break;
    }
    await new Promise(r => setTimeout(r, waitMs));
  }
  const fields = {
    jobId: record.id,
    state: record.state,
    webhook: kind,
    error: last,
  };
  if (rateLimited)
    log.warn('webhook rate-limited the notification; gave up', fields);
  else log.error('webhook notification failed', fields);
  return false;
}

/**
 * A `Retry-After` value in milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3);
 * undefined when absent or unreadable. A date in the past means now.
 */
export function retryAfterMs(
  value: string | null | undefined,
  now: Date = new Date(),
): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Every HTTP date form starts with the day's name; Date.parse alone takes "-5" for a year.
  if (!/^[A-Za-z]{3}/.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

/** Replaces every occurrence of `secret` (and its URL-encoded form) in `text`. */
export function redact(text: string, secret: string | undefined): string {
  if (!secret) return text;
  let out = text;
  for (const s of new Set([
    secret,
    encodeURI(secret),
    encodeURIComponent(secret),
  ])) {
    out = out.split(s).join('[webhook URL]');
  }
  return out;
}

function describe(e: unknown): string {
  const cause = (e as {cause?: unknown})?.cause;
  return cause ? `${errorMessage(e)}: ${errorMessage(cause)}` : errorMessage(e);
}
