/**
 * The container runnables of a job template that run the pushed image, and the one rule for
 * which of their fields image streaming allows
 * (https://cloud.google.com/batch/docs/use-image-streaming#limitations). The validator, the
 * streaming verdict and `pushrun plan` all read it from here.
 */
import type {JobTemplate} from './config/types';

/** Container fields Batch accepts on a streamed container runnable. */
export const STREAMING_CONTAINER_FIELDS = [
  'imageUri',
  'commands',
  'entrypoint',
  'volumes',
  'enableImageStreaming',
] as const;

/**
 * Whether a field's value is its proto3 default, which proto3 leaves off the wire and Batch
 * reads as unset: null, false, 0, "", an empty list or map.
 */
export function isUnset(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return true;
  if (value === '' || value === 0 || value === '0') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

/** The fields a container sets (to other than their default) that image streaming does not allow. */
export function unstreamableFields(
  container: Readonly<Record<string, unknown>>,
): string[] {
  const allowed: readonly string[] = STREAMING_CONTAINER_FIELDS;
  return Object.entries(container)
    .filter(([field, value]) => !allowed.includes(field) && !isUnset(value))
    .map(([field]) => field);
}

/** A container runnable of a template, with where it sits. */
export interface ContainerRunnable {
  readonly path: (string | number)[];
  readonly container: Readonly<Record<string, unknown>>;
}

/**
 * The container runnables of a canonical template that run the pushed image (`imageUri` absent
 * or `${IMAGE}`), with their paths: the ones pushrun pins and may stream.
 */
export function pushedImageContainers(job: JobTemplate): ContainerRunnable[] {
  const found: ContainerRunnable[] = [];
  asArray(job.taskGroups).forEach((group, g) => {
    const spec = asObject(asObject(group)?.taskSpec);
    asArray(spec?.runnables).forEach((runnable, r) => {
      const container = asObject(asObject(runnable)?.container);
      if (!container) return;
      const uri = container.imageUri;
      if (uri === undefined || uri === '' || uri === '${IMAGE}') {
        found.push({
          path: ['taskGroups', g, 'taskSpec', 'runnables', r, 'container'],
          container,
        });
      }
    });
  });
  return found;
}

/** The containers that run the pushed image, as `streamingVerdict` takes them. */
export function containerRunnables(
  job: JobTemplate,
): Readonly<Record<string, unknown>>[] {
  return pushedImageContainers(job).map(c => c.container);
}

/** `v` when it is a list, else an empty one. */
export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** `v` when it is a plain object. */
export function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}
