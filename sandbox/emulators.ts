/**
 * Starts the Pub/Sub and Firestore emulators from the Google Cloud CLI on loopback for tests.
 * Each emulator is started once per process and shared; `stop()` kills gcloud and the Java
 * server it spawns. Emulator docs: https://cloud.google.com/pubsub/docs/emulator and
 * https://cloud.google.com/firestore/native/docs/emulator
 */
import {freePort} from './net';
import {ChildProcess, spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/** A running emulator: `host` is `127.0.0.1:PORT`, as the `*_EMULATOR_HOST` variables take it. */
export interface Emulator {
  readonly host: string;
  stop(): Promise<void>;
}

/** The project id tests use against the emulators (any id works there). */
export const EMULATOR_PROJECT = 'pushrun-test';

const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 3_000;

type Kind = 'pubsub' | 'firestore';

interface KindSpec {
  readonly args: (hostPort: string) => string[];
  readonly component: string; // directory under SDK_ROOT/platform
}

const KINDS: Record<Kind, KindSpec> = {
  pubsub: {
    args: hp => ['beta', 'emulators', 'pubsub', 'start', `--host-port=${hp}`],
    component: 'pubsub-emulator',
  },
  firestore: {
    args: hp => ['emulators', 'firestore', 'start', `--host-port=${hp}`],
    component: 'cloud-firestore-emulator',
  },
};

// Process groups still alive; the exit hook kills them so no Java server outlives the tests.
const liveGroups = new Set<number>();
const running = new Map<Kind, Promise<Emulator | undefined>>();
let hooked = false;

/**
 * Starts (or returns the already running) Pub/Sub emulator. Resolves to `undefined` after
 * printing `SKIPPED: <why>` when gcloud or the component is missing; the caller then skips.
 */
export function startPubsubEmulator(): Promise<Emulator | undefined> {
  return startOnce('pubsub');
}

/** Starts (or returns the already running) Firestore emulator; `undefined` means skipped. */
export function startFirestoreEmulator(): Promise<Emulator | undefined> {
  return startOnce('firestore');
}

/** Starts a Firestore emulator of the caller's own, not shared, that it may stop (outage tests). */
export function startPrivateFirestoreEmulator(): Promise<Emulator | undefined> {
  return start('firestore');
}

/** Deletes every document in the Firestore emulator's default database (between tests). */
export async function resetFirestore(
  host: string,
  project = EMULATOR_PROJECT,
): Promise<void> {
  const url = `http://${host}/emulator/v1/projects/${project}/databases/(default)/documents`;
  const res = await fetch(url, {method: 'DELETE'});
  if (!res.ok) {
    throw new Error(`resetting the Firestore emulator: HTTP ${res.status}`);
  }
}

function startOnce(kind: Kind): Promise<Emulator | undefined> {
  let p = running.get(kind);
  if (!p) {
    p = start(kind);
    running.set(kind, p);
    // A failed start must not poison later attempts.
    p.then(
      e => e === undefined && running.delete(kind),
      () => running.delete(kind),
    );
  }
  return p;
}

async function start(kind: Kind): Promise<Emulator | undefined> {
  const why = missing(kind);
  if (why) {
    console.log(`SKIPPED: ${why}`);
    return undefined;
  }
  installExitHook();
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  // Detached: gcloud and the Java server it spawns share a new process group we can kill whole.
  const child = spawn('gcloud', [...KINDS[kind].args(host), '--quiet'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1'},
  });
  const pgid = child.pid!;
  liveGroups.add(pgid);
  let output = '';
  const keep = (b: Buffer) => (output = (output + b.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  // A forgotten stop() must not keep the test process alive; the exit hook still kills it.
  child.unref();
  (child.stdout as unknown as net.Socket).unref?.();
  (child.stderr as unknown as net.Socket).unref?.();

  const exited = new Promise<number | null>(resolve =>
    child.once('exit', code => resolve(code)),
  );
  const ready = await waitReady(host, exited);
  if (!ready) {
    killGroup(pgid, 'SIGKILL');
    liveGroups.delete(pgid);
    const tail = output.trim().split('\n').slice(-5).join(' | ');
    if (/not installed|component/i.test(output)) {
      console.log(`SKIPPED: the ${kind} emulator is not installed: ${tail}`);
      return undefined;
    }
    throw new Error(`the ${kind} emulator did not start on ${host}: ${tail}`);
  }
  let stopped: Promise<void> | undefined;
  return {
    host,
    stop: () => {
      stopped ??= stopGroup(kind, child, pgid, exited);
      return stopped;
    },
  };
}

async function stopGroup(
  kind: Kind,
  child: ChildProcess,
  pgid: number,
  exited: Promise<number | null>,
): Promise<void> {
  running.delete(kind);
  killGroup(pgid, 'SIGTERM');
  // Ref'd timers: the test process must wait here, not exit with the group half-killed.
  if (child.exitCode === null && child.signalCode === null) {
    await Promise.race([exited, sleep(STOP_GRACE_MS)]);
  }
  // The Java server may outlive its gcloud parent; make sure the whole group is gone.
  killGroup(pgid, 'SIGKILL');
  for (let i = 0; i < 40 && groupAlive(pgid); i++) await sleep(50);
  liveGroups.delete(pgid);
}

function sleep(ms: number): Promise<void> {
  return new Promise(r => setTimeout(r, ms));
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Why the emulator cannot run here, or undefined when it can. */
function missing(kind: Kind): string | undefined {
  const gcloud = onPath('gcloud');
  if (!gcloud) return 'gcloud is not on PATH';
  // gcloud lives in SDK_ROOT/bin; the emulators in SDK_ROOT/platform/<component>.
  const root = path.dirname(path.dirname(fs.realpathSync(gcloud)));
  const dir = path.join(root, 'platform', KINDS[kind].component);
  if (fs.existsSync(path.join(root, 'platform')) && !fs.existsSync(dir)) {
    return `the gcloud component ${KINDS[kind].component} is not installed`;
  }
  if (!onPath('java'))
    return `java is not on PATH (the ${kind} emulator needs it)`;
  return undefined;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function waitReady(
  host: string,
  exited: Promise<number | null>,
): Promise<boolean> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && !gone) {
    try {
      // Both emulators answer `GET /` with 200 "Ok." once they serve requests.
      const res = await fetch(`http://${host}/`, {
        signal: AbortSignal.timeout(1000),
      });
      if (res.ok) return true;
    } catch {
      // not listening yet
    }
    await sleep(150);
  }
  return false;
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const g of liveGroups) killGroup(g, 'SIGKILL');
    liveGroups.clear();
  };
  process.once('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      // An owner with its own handler (the sandbox) stops every part in order; the exit
      // hook above still kills whatever is left when the process ends.
      if (process.listenerCount(sig) > 0) return;
      killAll();
      // Nobody else handles it: die of the signal itself, as without this hook.
      process.kill(process.pid, sig);
    });
  }
}
