/**
 * What a run notification compares a run's startup with: the median startup of its mapping's
 * latest pulled runs, read with one query and never allowed to hold up or fail the message.
 */
import {errorMessage} from '../errors';
import type {Logger} from '../log';
import type {RunRecord} from './record';
import {pulledStartupMedian, startupSeconds} from './stats';
import type {RunStore} from './store';

/** How many of the mapping's latest pulled runs the median is over. */
export const PULLED_SAMPLE = 50;

/** How long the query may take before the message goes without the comparison. */
export const PEER_QUERY_TIMEOUT_MS = 3_000;

/**
 * The median startup in seconds of `record`'s mapping's latest PULLED_SAMPLE pulled runs;
 * undefined when the run never started, there are none, or the store failed or was slow
 * (logged as a warning).
 */
export async function pulledStartupMedianOf(
  record: RunRecord,
  store: RunStore,
  log: Logger,
  timeoutMs = PEER_QUERY_TIMEOUT_MS,
): Promise<number | undefined> {
  if (startupSeconds(record) === undefined) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const slow = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    const pulled = await Promise.race([
      store.list({
        mapping: record.mapping,
        streamed: false,
        limit: PULLED_SAMPLE,
      }),
      slow,
    ]);
    return pulledStartupMedian(pulled);
  } catch (e) {
    log.warn('could not read pulled runs for the notification', {
      jobId: record.id,
      mapping: record.mapping,
      error: errorMessage(e),
    });
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
