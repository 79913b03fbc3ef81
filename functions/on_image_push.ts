/** `onImagePush`: an Artifact Registry push on topic `gcr` starts the mappings' Batch jobs. */
import type {CloudEvent} from '@google-cloud/functions-framework';
import type {Deps} from '../shared/deps';
import {PermanentError, TransientError, errorMessage} from '../shared/errors';
import {decodeImagePush} from '../shared/events';
import {launchRuns} from '../shared/launch';

/** Builds the handler: returns to acknowledge, throws only when a redelivery can succeed. */
export const makeOnImagePush =
  (deps: Deps) =>
  async (event: CloudEvent<unknown>): Promise<void> => {
    const decision = decodeImagePush(event);
    if (decision.kind === 'ignore') {
      deps.log.info(`push ignored: ${decision.reason}`, {
        eventId: decision.eventId ?? event.id,
        decision: 'ignored',
      });
      return;
    }
    try {
      await launchRuns(decision.push, deps);
    } catch (err) {
      if (err instanceof TransientError) throw err;
      if (err instanceof PermanentError) {
        deps.log.error(`push not launched: ${errorMessage(err)}`, {
          eventId: decision.push.eventId,
          digest: decision.push.digestRef.digest,
          decision: 'failed',
        });
        return;
      }
      throw err;
    }
  };
