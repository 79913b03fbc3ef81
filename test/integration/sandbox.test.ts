/**
 * `npm run sandbox` as a newcomer runs it: the demo reaches its expected ends through the
 * real parts, the sandbox stays up, and SIGTERM stops every part it started.
 */
import * as assert from 'node:assert';
import {spawn} from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import {repoRoot} from '../../sandbox/functions';
import {registryInstalled} from '../../sandbox/registry';

function listening(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('npm run sandbox', function () {
  this.timeout(180_000);

  it('runs the demo to its expected ends, stays up, and SIGTERM stops every part', async function () {
    if (!registryInstalled()) {
      console.log('SKIPPED: sandbox test: docker-registry is not installed');
      this.skip();
    }
    const main = path.join(repoRoot(), 'build', 'sandbox', 'main.js');
    const child = spawn(process.execPath, [main, '--timeout', '120'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', d => (out += d.toString()));
    child.stderr.on('data', d => (out += d.toString()));
    const exited = new Promise<number | null>(resolve =>
      child.once('exit', code => resolve(code)),
    );
    try {
      const deadline = Date.now() + 150_000;
      while (
        !/stays up|cannot start/.test(out) &&
        child.exitCode === null &&
        Date.now() < deadline
      ) {
        await new Promise(r => setTimeout(r, 250));
      }
      if (/cannot start/.test(out)) {
        console.log(`SKIPPED: sandbox test: ${out.trim().split('\n').pop()}`);
        this.skip();
      }
      assert.match(out, /stays up/, out);
      assert.strictEqual((out.match(/^✔ /gm) ?? []).length, 5, out);
      assert.match(
        out,
        /^✔ supersede: queued-\w+ CANCELLED \(superseded by queued-\w+\), queued-\w+ SUCCEEDED/m,
      );
      assert.match(out, /CANCELLED \(superseded by queued-/);
      assert.match(out, /\$ npx pushrun runs stats\n[^$]*demo[^$]*pulled/i);
      assert.match(out, /^✔ live edit: job demo-\w+ got .*edited live/m);
      assert.match(out, /npx pushrun config rollback 1/);
      assert.doesNotMatch(out, /^✘ /m);
      const ports = [...out.matchAll(/http:\/\/127\.0\.0\.1:(\d+)/g)].map(m =>
        Number(m[1]),
      );
      assert.ok(ports.length >= 4, `ports in the output: ${ports}`);
      for (const port of ports)
        assert.ok(await listening(port), `port ${port} is up`);

      child.kill('SIGTERM');
      assert.strictEqual(await exited, 143);
      await new Promise(r => setTimeout(r, 500));
      for (const port of ports)
        assert.ok(!(await listening(port)), `port ${port} is closed`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
