/**
 * Serves the real functions with the real `functions-framework`, as a child process on
 * loopback, from the compiled package `main` (so `npm run build` must have run).
 */
import {ChildProcess, spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {own, stopChild} from './children';
import {freePort} from './net';

export {freePort};

/** The repository root: the nearest folder above this file holding package.json. */
export function repoRoot(from: string = __dirname): string {
  let dir = from;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

/** Resolves once something accepts TCP connections on the port, or rejects after `timeoutMs`. */
export async function waitForPort(
  port: number,
  timeoutMs = 20_000,
  child?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) {
      throw new Error(
        `process exited with code ${child.exitCode} before listening`,
      );
    }
    const ok = await new Promise<boolean>(resolve => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`nothing listens on port ${port}`);
    await new Promise(r => setTimeout(r, 20));
  }
}

/** A function served by functions-framework, with the JSON log lines it wrote. */
export interface ServedFunction {
  readonly url: string;
  readonly port: number;
  /** The serving process, for measuring it. */
  readonly pid: number;
  readonly logs: Record<string, unknown>[];
  readonly stderr: string[];
  stop(): Promise<void>;
}

/**
 * Starts `functions-framework --target=TARGET` on a free port with `env` added to this
 * process's environment. `onLog` sees each structured log line as it arrives.
 */
export async function serveFunction(
  target: string,
  env: NodeJS.ProcessEnv,
  onLog?: (line: Record<string, unknown>) => void,
): Promise<ServedFunction> {
  const root = repoRoot();
  const main = path.join(root, 'build', 'functions', 'index.js');
  if (!fs.existsSync(main))
    throw new Error(`${main} is missing: run npm run build first`);
  const port = await freePort();
  // The package exports only its index; main.js sits beside it.
  const bin = path.join(
    path.dirname(
      require.resolve('@google-cloud/functions-framework', {paths: [root]}),
    ),
    'main.js',
  );
  const child = own(
    spawn(
      process.execPath,
      [
        bin,
        `--target=${target}`,
        '--signature-type=cloudevent',
        `--port=${port}`,
        `--source=${root}`,
      ],
      {
        cwd: root,
        env: {...process.env, ...env},
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  let pending = '';
  child.stdout!.on('data', chunk => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      try {
        const entry = JSON.parse(line);
        logs.push(entry);
        onLog?.(entry);
      } catch {
        // functions-framework prints a few plain lines of its own at start.
      }
    }
  });
  child.stderr!.on('data', chunk => stderr.push(chunk.toString()));
  try {
    await waitForPort(port, 20_000, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(
      `${target} did not start: ${(err as Error).message}\n${stderr.join('')}`,
    );
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    logs,
    stderr,
    // functions-framework waits for open connections on SIGTERM; SIGKILL after a grace period.
    stop: () => stopChild(child, 2000),
  };
}

/** A Pub/Sub message as Eventarc wraps it (google.cloud.pubsub.topic.v1.messagePublished). */
export interface PubsubMessageSpec {
  readonly data: string | Buffer;
  /** Sent as `message.data` verbatim instead of base64 of `data` (to send bad base64). */
  readonly rawData?: string;
  readonly attributes?: Record<string, string>;
  readonly messageId?: string;
  readonly publishTime?: Date;
  /** The CloudEvent type; default `google.cloud.pubsub.topic.v1.messagePublished`. */
  readonly type?: string;
}

/**
 * Posts a binary-mode CloudEvent the way Eventarc delivers a Pub/Sub message, and returns
 * the HTTP status (2xx acknowledges, anything else asks for redelivery).
 */
export async function postPubsubCloudEvent(
  url: string,
  message: PubsubMessageSpec,
  topic = 'projects/p/topics/gcr',
): Promise<number> {
  const messageId =
    message.messageId ?? String(Math.floor(Math.random() * 1e12));
  const publishTime = (message.publishTime ?? new Date()).toISOString();
  const body = {
    message: {
      data: message.rawData ?? Buffer.from(message.data).toString('base64'),
      attributes: message.attributes ?? {},
      messageId,
      publishTime,
    },
    subscription: 'projects/p/subscriptions/eventarc-sub',
  };
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'ce-id': messageId,
      'ce-specversion': '1.0',
      'ce-type':
        message.type ?? 'google.cloud.pubsub.topic.v1.messagePublished',
      'ce-source': `//pubsub.googleapis.com/${topic}`,
      'ce-time': publishTime,
    },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}
