/** What a mapping's `match.image` glob names literally: host, and for Artifact Registry more. */
import picomatch from 'picomatch';
import {AR_HOST} from '../image_ref';

/** The literal Artifact Registry parts a `match.image` glob names, as far as they are literal. */
export interface LiteralImageParts {
  /** The first path segment, when it holds no glob characters. */
  readonly host?: string;
  /** The Artifact Registry location of a literal `LOCATION-docker.pkg.dev` host. */
  readonly location?: string;
  readonly project?: string;
  readonly repository?: string;
}

/** Reads the literal host, and for Artifact Registry the location, project and repository, of a glob. */
export function literalImageParts(glob: string): LiteralImageParts {
  const segments = glob.split('/');
  const literal = (s: string | undefined) =>
    s !== undefined && s !== '' && !picomatch.scan(s).isGlob;
  if (!literal(segments[0])) return {};
  const host = segments[0];
  const ar = AR_HOST.exec(host);
  if (!ar) return {host};
  const project = literal(segments[1]) ? segments[1] : undefined;
  const repository = project && literal(segments[2]) ? segments[2] : undefined;
  return {host, location: ar[1], project, repository};
}
