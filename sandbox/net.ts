/** Loopback helpers shared by the parts tests start, and polling for what they do. */
import * as net from 'node:net';

/** A TCP port free on 127.0.0.1 right now (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Calls `read` every 250 ms until it answers something or `timeoutMs` has passed. */
export async function pollUntil<T>(
  read: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await read();
    if (found !== undefined || Date.now() > deadline) return found;
    await new Promise(r => setTimeout(r, 250));
  }
}
