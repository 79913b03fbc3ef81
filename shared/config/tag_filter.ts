/**
 * Tag filters of `match.tags`: a glob (`v*`), a `semver:` range, or a `regex:` full match.
 *
 * Semver: a tag is compared when it is a valid semver version (a leading `v` is allowed, as
 * in `v2.1.0`) or a short numeric one (`2`, `2.1`, `v2.1`, read as `2.0.0`, `2.1.0`). Other tags
 * (`latest`, `build-42`) never satisfy a range: coercing them would pull numbers out of names.
 * Prereleases follow semver's own rule: they satisfy a range only when it names a prerelease of
 * the same version.
 */
import picomatch from 'picomatch';
import * as semver from 'semver';
import type {TagFilter} from './types';

const SHORT_VERSION = /^v?\d+(\.\d+){0,2}$/;

/** Compiles one filter; throws an Error with a precise message when it is invalid. */
export function compileTagFilter(text: string): TagFilter {
  if (text.startsWith('semver:')) {
    const range = text.slice('semver:'.length).trim();
    if (!range || semver.validRange(range) === null) {
      throw new Error(
        `invalid semver range "${range}" in tag filter "${text}"`,
      );
    }
    return {
      kind: 'semver',
      text,
      test: tag => {
        const version = tagVersion(tag);
        return version !== null && semver.satisfies(version, range);
      },
    };
  }
  if (text.startsWith('regex:')) {
    const pattern = text.slice('regex:'.length);
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${pattern})$`, 'u');
    } catch (e) {
      throw new Error(
        `invalid regular expression in tag filter "${text}": ${(e as Error).message}`,
      );
    }
    return {kind: 'regex', text, test: tag => re.test(tag)};
  }
  let isMatch: (s: string) => boolean;
  try {
    isMatch = picomatch(text, {strictBrackets: true});
  } catch (e) {
    throw new Error(
      `invalid glob in tag filter "${text}": ${(e as Error).message}`,
    );
  }
  return {kind: 'glob', text, test: tag => isMatch(tag)};
}

/** The semver version a tag stands for, or null when it is not a version. */
export function tagVersion(tag: string): string | null {
  const valid = semver.valid(tag);
  if (valid) return valid;
  if (SHORT_VERSION.test(tag)) return semver.coerce(tag)?.version ?? null;
  return null;
}
