/**
 * The sandbox's stand-in for Artifact Registry's Pub/Sub notifications: it receives the
 * registry's own webhook notifications and turns each manifest push into a `gcr` message.
 * Registry events: https://distribution.github.io/distribution/about/notifications/
 * Artifact Registry messages: https://cloud.google.com/artifact-registry/docs/configure-notifications
 */
import * as http from 'node:http';
import {AddressInfo} from 'node:net';

/** The `gcr` topic payload Artifact Registry publishes for a push. */
export interface GcrPayload {
  readonly action: 'INSERT' | 'DELETE';
  readonly digest?: string;
  readonly tag?: string;
}

/** One event of the registry's notification envelope (the fields the bridge reads). */
interface RegistryEvent {
  action?: string;
  target?: {
    mediaType?: string;
    digest?: string;
    repository?: string;
    tag?: string;
  };
}

const MANIFEST_MEDIA_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

/**
 * Turns a registry notification envelope into the `gcr` payloads Artifact Registry would
 * publish, spelling references as `LOCATION-docker.pkg.dev/REPOSITORY` (blob events are dropped).
 */
export function gcrPayloadsFromEnvelope(
  envelope: unknown,
  location: string,
): GcrPayload[] {
  const events = (envelope as {events?: unknown})?.events;
  if (!Array.isArray(events)) return [];
  const host = `${location}-docker.pkg.dev`;
  const payloads: GcrPayload[] = [];
  for (const event of events as RegistryEvent[]) {
    const t = event?.target;
    if (event?.action !== 'push' || !t?.repository || !t.digest) continue;
    if (!t.mediaType || !MANIFEST_MEDIA_TYPES.has(t.mediaType)) continue;
    const name = `${host}/${t.repository}`;
    payloads.push(
      t.tag
        ? {
            action: 'INSERT',
            digest: `${name}@${t.digest}`,
            tag: `${name}:${t.tag}`,
          }
        : {action: 'INSERT', digest: `${name}@${t.digest}`},
    );
  }
  return payloads;
}

/** A running bridge: its URL for the registry's config, and how to stop it. */
export interface Bridge {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Listens on loopback for registry notifications and hands each `gcr` payload to `publish`.
 * Answers 5xx when publishing fails, so the registry retries the envelope.
 */
export async function startBridge(
  location: string,
  publish: (payload: GcrPayload) => Promise<void>,
): Promise<Bridge> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', async () => {
      let envelope: unknown;
      try {
        envelope = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400).end('not a JSON notification envelope');
        return;
      }
      try {
        for (const payload of gcrPayloadsFromEnvelope(envelope, location)) {
          await publish(payload);
        }
        res.writeHead(200).end();
      } catch {
        res.writeHead(503).end();
      }
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events`,
    close: () => new Promise(resolve => server.close(() => resolve())),
  };
}
