/**
 * Images made by the tools people make them with, the Debian packages `umoci`, `skopeo` and
 * `buildah`, run as a user runs them: no daemon, a throwaway storage root and home, an
 * accept-anything trust policy of the test's own. A test whose tool is missing prints SKIPPED.
 * See https://github.com/opencontainers/umoci/blob/main/doc/man/umoci-repack.1.md,
 * https://github.com/containers/skopeo/blob/main/docs/skopeo-copy.1.md and
 * https://github.com/containers/buildah/blob/main/docs/buildah-commit.1.md
 */
import {execFile, spawnSync} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {mkdir, rm, stat, unlink, utimes, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import * as path from 'node:path';
import {promisify} from 'node:util';
import {startRegistry, type TestRegistry} from '../../sandbox/registry';

const run = promisify(execFile);

/** The image tools tests may use; each is both the command and its Debian package. */
export const IMAGE_TOOLS = ['umoci', 'skopeo', 'buildah'] as const;
/** One of {@link IMAGE_TOOLS}. */
export type ImageTool = (typeof IMAGE_TOOLS)[number];

/** The tools of `tools` that are not on PATH. */
export function missingTools(tools: readonly ImageTool[]): ImageTool[] {
  return tools.filter(
    t => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0,
  );
}

/** Skips the mocha test (or suite hook) loudly unless every tool of `tools` is installed. */
export function requireTools(
  ctx: Mocha.Context,
  tools: readonly ImageTool[],
): void {
  const missing = missingTools(tools);
  if (missing.length === 0) return;
  console.log(
    `SKIPPED: ${missing.join(', ')} not installed (apt-get install -y ${missing.join(' ')}; scripts/ensure-parts.sh installs them as root)`,
  );
  ctx.skip();
}

/** A work folder for the tools: layouts, bundles, storage, and the environment they run in. */
export interface ToolBox {
  readonly dir: string;
  /** Runs a tool; rejects with its stderr when it fails. */
  run(tool: ImageTool, args: readonly string[]): Promise<string>;
  /** Removes everything the tools wrote. */
  cleanup(): Promise<void>;
}

/** A fresh work folder, with a home and trust policy of its own so the machine's are not used. */
export async function makeToolBox(): Promise<ToolBox> {
  // Lowercase only: buildah names an image after the path of its oci: layout.
  const dir = path.join(
    tmpdir(),
    `pushrun-tools-${randomBytes(6).toString('hex')}`,
  );
  await mkdir(dir);
  const home = path.join(dir, 'home');
  await mkdir(home, {recursive: true});
  const policy = path.join(dir, 'policy.json');
  await writeFile(
    policy,
    JSON.stringify({default: [{type: 'insecureAcceptAnything'}]}),
  );
  const env = {
    ...process.env,
    HOME: home,
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_RUNTIME_DIR: path.join(home, 'run'),
  };
  // buildah keeps containers and images in a storage root: vfs needs no kernel overlay support.
  const storage = [
    '--storage-driver',
    'vfs',
    '--root',
    path.join(dir, 'storage'),
    '--runroot',
    path.join(dir, 'runroot'),
  ];
  const withPolicy: Record<ImageTool, (args: readonly string[]) => string[]> = {
    umoci: args => [...args],
    skopeo: args => ['--policy', policy, ...args],
    buildah: args => [...storage, ...args],
  };
  return {
    dir,
    async run(tool, args) {
      try {
        const {stdout} = await run(tool, withPolicy[tool](args), {
          env,
          cwd: dir,
          maxBuffer: 16 * 1024 * 1024,
        });
        return stdout.trim();
      } catch (e) {
        const err = e as Error & {stderr?: string};
        throw new Error(
          `${tool} ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`,
        );
      }
    },
    async cleanup() {
      // buildah's vfs storage may hold read-only folders: make sure it lets go first.
      await run('chmod', ['-R', 'u+w', dir]).catch(() => {});
      await rm(dir, {recursive: true, force: true});
    },
  };
}

/** The umoci-made images of {@link buildUmociImages}, by tag, in one OCI layout. */
export interface UmociImages {
  /** The layout folder: `oci:${layout}:app` and so on. */
  readonly layout: string;
}

/**
 * With umoci, in one layout: `app` (one layer: `bin/app` and a file `gone`, Cmd set with
 * `umoci config`, which records a history entry with no layer); `whiteout` (`app` plus a layer
 * that only deletes `gone`: a single `.wh.gone` entry); `no-layers` (`umoci new` and
 * `umoci config`, never repacked: a manifest with no layers).
 */
export async function buildUmociImages(box: ToolBox): Promise<UmociImages> {
  const layout = path.join(box.dir, 'umoci');
  const bundle = (name: string) => path.join(box.dir, `bundle-${name}`);
  const umoci = (...args: string[]) => box.run('umoci', args);
  // Unpacks a tag into a bundle of its own; resolves to the bundle's rootfs.
  const unpack = async (tag: string) => {
    await umoci(
      'unpack',
      '--rootless',
      '--image',
      `${layout}:${tag}`,
      bundle(tag),
    );
    return path.join(bundle(tag), 'rootfs');
  };
  await umoci('init', '--layout', layout);
  await umoci('new', '--image', `${layout}:base`);
  const rootfs = await unpack('base');
  await mkdir(path.join(rootfs, 'bin'), {recursive: true});
  await writeFile(path.join(rootfs, 'bin/app'), '#!/bin/sh\necho hello\n', {
    mode: 0o755,
  });
  await writeFile(path.join(rootfs, 'gone'), 'deleted by the next layer\n');
  await umoci('repack', '--image', `${layout}:app`, bundle('base'));
  await umoci('config', '--image', `${layout}:app`, '--config.cmd', '/bin/app');

  const appRoot = await unpack('app');
  // Keep the root folder's times, so that the new layer holds the whiteout alone.
  const {atime, mtime} = await stat(appRoot);
  await unlink(path.join(appRoot, 'gone'));
  await utimes(appRoot, atime, mtime);
  await umoci('repack', '--image', `${layout}:whiteout`, bundle('app'));

  await umoci('new', '--image', `${layout}:no-layers`);
  await umoci(
    'config',
    '--image',
    `${layout}:no-layers`,
    '--config.cmd',
    '/bin/app',
  );
  return {layout};
}

/**
 * With buildah: a container from `from` (an `oci:` image), one `buildah config` change and a
 * commit, which adds an empty layer (buildah commits a layer even when no file changed). Written
 * as `oci:${dir}:${tag}`; resolves to that dir.
 */
export async function buildahMetadataCommit(
  box: ToolBox,
  from: string,
  tag: string,
): Promise<string> {
  const dir = path.join(box.dir, 'buildah');
  const policy = path.join(box.dir, 'policy.json');
  const container = await box.run('buildah', [
    'from',
    '--signature-policy',
    policy,
    from,
  ]);
  await box.run('buildah', ['config', '--env', 'MODE=batch', container]);
  await box.run('buildah', [
    'commit',
    '--quiet',
    '--signature-policy',
    policy,
    container,
    `oci:${dir}:${tag}`,
  ]);
  await box.run('buildah', ['rm', container]);
  return dir;
}

/** `skopeo copy [flags] FROM TO`, plain HTTP to a loopback registry. */
export async function skopeoCopy(
  box: ToolBox,
  from: string,
  to: string,
  ...flags: string[]
): Promise<void> {
  const tls = [
    ...(from.startsWith('docker://') ? ['--src-tls-verify=false'] : []),
    ...(to.startsWith('docker://') ? ['--dest-tls-verify=false'] : []),
  ];
  await box.run('skopeo', ['copy', '--quiet', ...tls, ...flags, from, to]);
}

/**
 * A docker-registry that also takes Docker v2 schema 1 pushes, which distribution refuses unless
 * `compatibility.schema1.enabled` is set; it is set here through distribution's environment
 * override (https://distribution.github.io/distribution/about/configuration/#override-specific-configuration-options).
 */
export async function startSchema1Registry(): Promise<TestRegistry> {
  const key = 'REGISTRY_COMPATIBILITY_SCHEMA1_ENABLED';
  process.env[key] = 'true';
  try {
    return await startRegistry();
  } finally {
    delete process.env[key];
  }
}
