/**
 * Container image references, after the grammar of distribution's `reference` package:
 * `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`, with Artifact Registry names taken apart into location,
 * project, repository and image. See
 * https://github.com/distribution/reference/blob/main/reference.go and
 * https://cloud.google.com/artifact-registry/docs/docker/names
 */

/** Where an image lives, as far as image streaming cares. */
export type RegistryKind = 'artifact-registry' | 'container-registry' | 'other';

/** A parsed image reference. */
export interface ImageRef {
  readonly host: string;
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
  readonly kind: RegistryKind;
  readonly location?: string;
  readonly project?: string;
  readonly repository?: string;
  readonly image?: string;
}

/** An image given on the command line: in a registry, or an OCI image layout on disk. */
export type ImageSource =
  {kind: 'registry'; ref: ImageRef} | {kind: 'oci'; dir: string; tag?: string};

/** A reference that does not parse; the message says what is wrong and where. */
export class ImageRefError extends Error {
  constructor(
    message: string,
    readonly input: string,
  ) {
    super(message);
    this.name = 'ImageRefError';
  }
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
]);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
const DIGEST_HEX_LENGTH: Record<string, number> = {sha256: 64, sha512: 128};
const HOST_LABEL = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const IPV6_HOST = /^\[[0-9a-fA-F:.]+\]$/;
/** An Artifact Registry Docker host, `LOCATION-docker.pkg.dev`; group 1 is the location. */
export const AR_HOST = /^([a-z0-9]+(?:-[a-z0-9]+)*)-docker\.pkg\.dev$/;
/** A Container Registry host: `gcr.io` and its regional names (`us.gcr.io`, ...). */
export const GCR_HOST = /^(?:[a-z0-9-]+\.)?gcr\.io$/;
// distribution caps the whole name (host and path) at 255 characters.
const MAX_NAME_LENGTH = 255;

/** Parses `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`; throws ImageRefError saying what is wrong. */
export function parseImageRef(text: string): ImageRef {
  const fail = (why: string): never => {
    throw new ImageRefError(`invalid image reference "${text}": ${why}`, text);
  };
  if (text.length === 0) fail('it is empty');
  if (text.trim() !== text) fail('it has leading or trailing spaces');
  if (/\s/.test(text)) fail('it contains a space');
  if (/^[a-z]+:\/\//i.test(text)) {
    fail('drop the URL scheme: write HOST/PATH, not https://HOST/PATH');
  }

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = parseDigest(rest.slice(at + 1), fail);
    rest = rest.slice(0, at);
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      fail(
        `tag "${tag}" must be 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"`,
      );
    }
  }
  if (rest.length === 0) fail('the image name is missing');

  const slash = rest.indexOf('/');
  let host = DOCKER_HUB;
  let path = rest;
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  // As in distribution: the first component is a host when it has a dot or a port, or is localhost.
  if (
    slash >= 0 &&
    (first.includes('.') || first.includes(':') || first === 'localhost')
  ) {
    host = first;
    path = rest.slice(slash + 1);
    checkHost(host, fail);
    if (DOCKER_HUB_ALIASES.has(host)) host = DOCKER_HUB;
  }
  if (path.length === 0) fail('the repository path after the host is missing');
  const components = path.split('/');
  components.forEach((c, i) => {
    if (c.length === 0) fail(`path component ${i + 1} is empty (double "/")`);
    if (c !== c.toLowerCase()) {
      fail(`repository path "${path}" must be lowercase`);
    }
    if (!PATH_COMPONENT.test(c)) {
      fail(
        `path component "${c}" may hold only lowercase letters and digits, separated by ".", "_", "__" or "-"`,
      );
    }
  });
  if (host === DOCKER_HUB && components.length === 1) path = `library/${path}`;
  if (host.length + 1 + path.length > MAX_NAME_LENGTH) {
    fail(`the name is longer than ${MAX_NAME_LENGTH} characters`);
  }

  const base = {
    host,
    path,
    ...(tag !== undefined && {tag}),
    ...(digest !== undefined && {digest}),
  };
  const ar = AR_HOST.exec(host);
  if (ar) return {...base, ...artifactRegistryParts(ar[1], components, fail)};
  if (GCR_HOST.test(host)) return {...base, kind: 'container-registry'};
  return {...base, kind: 'other'};
}

function parseDigest(digest: string, fail: (why: string) => never): string {
  const m = DIGEST.exec(digest);
  if (!m) {
    fail(`digest "${digest}" must look like sha256:<64 hex digits>`);
  }
  const [, algorithm, hex] = m!;
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) {
    fail(
      `digest algorithm "${algorithm}" is not supported (use sha256 or sha512)`,
    );
  }
  if (hex.length !== length || !/^[0-9a-f]+$/.test(hex)) {
    fail(`a ${algorithm} digest has ${length} lowercase hex digits`);
  }
  return digest;
}

function checkHost(host: string, fail: (why: string) => never): void {
  const m = /^(.*?)(?::(\d+))?$/.exec(host)!;
  const [, name, port] = m;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    fail(`port ${port} in host "${host}" is out of range`);
  }
  if (IPV6_HOST.test(name)) return;
  if (name.length === 0 || !name.split('.').every(l => HOST_LABEL.test(l))) {
    fail(`host "${host}" is not a valid host name`);
  }
}

function artifactRegistryParts(
  location: string,
  components: string[],
  fail: (why: string) => never,
): Pick<ImageRef, 'kind' | 'location' | 'project' | 'repository' | 'image'> {
  const shape = 'LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE';
  // A domain-scoped project "example.com:my-project" appears as "example.com/my-project"; plain
  // project ids never hold a dot, so the dot is unambiguous.
  let rest = components;
  let project = rest[0];
  if (project.includes('.')) {
    if (rest.length < 2)
      fail(`Artifact Registry references look like ${shape}`);
    project = `${rest[0]}:${rest[1]}`;
    rest = rest.slice(1);
  }
  if (rest.length < 3) {
    fail(
      `Artifact Registry references look like ${shape}; "${components.join('/')}" lacks the ${
        rest.length === 1 ? 'repository and image' : 'image'
      }`,
    );
  }
  return {
    kind: 'artifact-registry',
    location,
    project,
    repository: rest[1],
    image: rest.slice(2).join('/'),
  };
}

/** `host/path`, without tag or digest: the name mappings match on. */
export function imageName(ref: ImageRef): string {
  return `${ref.host}/${ref.path}`;
}

/** `host/path[:tag][@digest]`. */
export function formatImageRef(ref: ImageRef): string {
  return (
    imageName(ref) +
    (ref.tag !== undefined ? `:${ref.tag}` : '') +
    (ref.digest !== undefined ? `@${ref.digest}` : '')
  );
}

const OCI_PREFIX = 'oci:';

/** Parses a registry reference, or `oci:DIR[:TAG]` for an OCI image layout on disk. */
export function parseImageSource(text: string): ImageSource {
  if (!text.startsWith(OCI_PREFIX)) {
    return {kind: 'registry', ref: parseImageRef(text)};
  }
  const rest = text.slice(OCI_PREFIX.length);
  // The tag is what follows the last ":" when that part is not itself a path.
  const colon = rest.lastIndexOf(':');
  let dir = rest;
  let tag: string | undefined;
  if (colon >= 0 && !rest.slice(colon + 1).includes('/')) {
    dir = rest.slice(0, colon);
    tag = rest.slice(colon + 1);
    if (!TAG.test(tag)) {
      throw new ImageRefError(
        `invalid image source "${text}": tag "${tag}" must be 1 to 128 letters, digits, "_", "." or "-"`,
        text,
      );
    }
  }
  if (dir.length === 0) {
    throw new ImageRefError(
      `invalid image source "${text}": write oci:DIR or oci:DIR:TAG`,
      text,
    );
  }
  return tag === undefined ? {kind: 'oci', dir} : {kind: 'oci', dir, tag};
}

/** How a source reads in messages: the reference, or `oci:DIR[:TAG]`. */
export function formatImageSource(source: ImageSource): string {
  if (source.kind === 'registry') return formatImageRef(source.ref);
  return `${OCI_PREFIX}${source.dir}${source.tag !== undefined ? `:${source.tag}` : ''}`;
}
