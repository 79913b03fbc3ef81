/**
 * Which mappings a push starts: the `match.image` glob over the image name (`*` stays within a
 * path segment, `**` crosses them), and, when a mapping lists `match.tags`, one filter matching
 * the push's tag. An untagged push starts only mappings without tag filters.
 */
import type {Mapping, PushrunConfig} from './config/types';
import {imageName, type ImageRef} from './image_ref';

/** What matching needs to know about a push. */
export interface PushToMatch {
  /** The pushed image, pinned by digest. */
  readonly ref: ImageRef;
  /** The bare tag (`1.1`); absent for an untagged push. */
  readonly tag?: string;
}

/** Whether one mapping matches a push. */
export function mappingMatches(mapping: Mapping, push: PushToMatch): boolean {
  if (!mapping.matchesImage(imageName(push.ref))) return false;
  if (!mapping.tagFilters) return true;
  const tag = push.tag;
  if (tag === undefined || tag === '') return false;
  return mapping.tagFilters.some(f => f.test(tag));
}

/** Every mapping a push matches, in config order; each one gets its own job. */
export function matchMappings(
  config: Pick<PushrunConfig, 'mappings'>,
  push: PushToMatch,
): Mapping[] {
  return config.mappings.filter(m => mappingMatches(m, push));
}
