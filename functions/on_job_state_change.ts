/**
 * `onJobStateChange` (Batch JOB_STATE_CHANGED messages) and `reconcileRuns` (Cloud Scheduler):
 * both bring run records up to date with what Batch says, through the same update path.
 */
import type {CloudEvent} from '@google-cloud/functions-framework';
import type {Deps} from '../shared/deps';
import {PermanentError, errorMessage} from '../shared/errors';
import {decodeJobStateHint} from '../shared/events';
import {reconcileRuns} from '../shared/reconcile';
import {recordJobState} from '../shared/runs/sync';

/** Builds the recorder: a malformed message is acknowledged and logged, a transient fault thrown. */
export const makeOnJobStateChange =
  (deps: Deps) =>
  async (event: CloudEvent<unknown>): Promise<void> => {
    const decision = decodeJobStateHint(event, deps.project);
    if (decision.kind === 'ignore') {
      deps.log.info(`job state message ignored: ${decision.reason}`, {
        eventId: event.id,
        decision: 'ignored',
      });
      return;
    }
    try {
      await recordJobState(decision.hint, deps);
    } catch (err) {
      if (err instanceof PermanentError) {
        deps.log.error(`job state not recorded: ${errorMessage(err)}`, {
          eventId: event.id,
          jobName: decision.hint.jobName,
        });
        return;
      }
      throw err;
    }
  };

/** Builds the reconciler: any tick (its payload is unused) asks Batch about runs left open. */
export const makeReconcileRuns =
  (deps: Deps) =>
  async (event: CloudEvent<unknown>): Promise<void> => {
    const counts = await reconcileRuns({
      ...deps,
      olderThanMs: deps.reconcileAfterMs,
    });
    deps.log.info('reconciled open runs', {eventId: event.id, ...counts});
  };
