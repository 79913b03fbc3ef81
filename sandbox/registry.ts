/**
 * A real Docker distribution registry (the Debian package `docker-registry`) on loopback, with
 * temporary filesystem storage, for integration tests, benchmarks and the sandbox.
 */
import {own, stopChild} from './children';
import {freePort} from './net';
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import * as path from 'node:path';

/** The registry binary and the message printed when it is missing. */
export const REGISTRY_BINARY = 'docker-registry';
export const REGISTRY_MISSING =
  'SKIPPED: docker-registry not installed (apt-get install -y docker-registry)';

const START_TIMEOUT_MS = 15_000;

/** Options for {@link startRegistry}. */
export interface RegistryOptions {
  /** Turns on webhook notifications: the registry POSTs its events to this URL. */
  readonly notificationUrl?: string;
}

/** A running registry. */
export interface TestRegistry {
  /** `http://127.0.0.1:PORT`, the value for PUSHRUN_REGISTRY_ENDPOINT. */
  readonly baseUrl: string;
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  /** Stops the registry and removes its storage. */
  stop(): Promise<void>;
}

/** Whether `docker-registry` is on PATH. */
export function registryInstalled(): boolean {
  return spawnSync('sh', ['-c', `command -v ${REGISTRY_BINARY}`]).status === 0;
}

function registryConfig(
  storage: string,
  port: number,
  opts: RegistryOptions,
): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(storage)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  if (opts.notificationUrl) {
    lines.push(
      'notifications:',
      '  endpoints:',
      '    - name: pushrun',
      `      url: ${JSON.stringify(opts.notificationUrl)}`,
      '      timeout: 2s',
      '      threshold: 3',
      '      backoff: 1s',
    );
  }
  return lines.join('\n') + '\n';
}

/** Starts a registry on a free loopback port and waits until `/v2/` answers. */
export async function startRegistry(
  opts: RegistryOptions = {},
): Promise<TestRegistry> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pushrun-registry-'));
  const port = await freePort();
  const configFile = path.join(dir, 'config.yml');
  await writeFile(
    configFile,
    registryConfig(path.join(dir, 'storage'), port, opts),
  );
  const child = own(
    spawn(REGISTRY_BINARY, ['serve', configFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild(child);
    await rm(dir, {recursive: true, force: true});
  };
  try {
    await waitUntilReady(`${baseUrl}/v2/`, child, () => stderr);
  } catch (e) {
    await stop();
    throw e;
  }
  return {baseUrl, host: `127.0.0.1:${port}`, stop};
}

async function waitUntilReady(
  url: string,
  child: ChildProcess,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(
        `docker-registry exited with ${child.exitCode}: ${stderr()}`,
      );
    }
    try {
      const res = await fetch(url, {signal: AbortSignal.timeout(1000)});
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // Not listening yet.
    }
    await new Promise(r => setTimeout(r, 50));
  }
  throw new Error(
    `docker-registry did not answer ${url} within ${START_TIMEOUT_MS / 1000}s: ${stderr()}`,
  );
}

/**
 * Starts one registry for a mocha suite (`before`) and stops it (`after`); the suite is skipped,
 * loudly, when docker-registry is not installed. Read `.current` inside tests.
 */
export function useRegistry(opts: RegistryOptions = {}): {
  current: TestRegistry;
} {
  const holder = {} as {current: TestRegistry};
  before(async function () {
    if (!registryInstalled()) {
      console.log(REGISTRY_MISSING);
      this.skip();
    }
    this.timeout(START_TIMEOUT_MS + 5000);
    holder.current = await startRegistry(opts);
  });
  after(async () => {
    await holder.current?.stop();
  });
  return holder;
}
