/** Child processes the tests and the sandbox own: stopped in order, and never left behind. */
import type {ChildProcess} from 'node:child_process';

const owned = new Set<ChildProcess>();
let hooked = false;

/** Kills `child` when this process exits, whatever the reason, unless it was stopped before. */
export function own(child: ChildProcess): ChildProcess {
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of owned) c.kill('SIGKILL');
    });
  }
  owned.add(child);
  child.once('exit', () => owned.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise(resolve => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
