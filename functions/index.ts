/**
 * The Cloud Functions entry points (contract: DESIGN.md "Functions"). Each is thin: decode the
 * event, call one `shared/` function, and map the outcome to ack (return) or retry (throw).
 */
import * as ff from '@google-cloud/functions-framework';
import {makeDeps} from '../shared/deps';
import {makeOnImagePush} from './on_image_push';
import {makeOnJobStateChange, makeReconcileRuns} from './on_job_state_change';

// The config is read and validated here, at cold start: an invalid mappings file fails loudly
// instead of acknowledging pushes it cannot act on. Clients are created later, on first use.
const deps = makeDeps();

ff.cloudEvent('onImagePush', makeOnImagePush(deps));
ff.cloudEvent('onJobStateChange', makeOnJobStateChange(deps));
ff.cloudEvent('reconcileRuns', makeReconcileRuns(deps));
