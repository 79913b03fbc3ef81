/**
 * `pushrun check` cost against a real docker-registry: registry requests and wall time per check,
 * cold and with the digest already checked, against the floor of the same GETs made with fetch.
 */
import {median, printTable, timed} from './stats';
import {randomBytes} from 'node:crypto';
import {checkImage} from '../shared/check';
import {DigestCache, makeRegistry} from '../shared/registry';
import {MANIFEST_ACCEPT} from '../shared/registry/media_types';
import type {ManifestJson} from '../shared/registry/registry';
import {buildImage, pushBuiltImage, type BuiltImage} from '../sandbox/images';
import {buildIndexImage, buildLayeredImage} from '../sandbox/image_builder';
import {
  REGISTRY_MISSING,
  registryInstalled,
  startRegistry,
} from '../sandbox/registry';
import {parseSettings} from '../shared/settings';

const ROUNDS = 40;
const AR = 'us-central1-docker.pkg.dev/bench/demo';

// Random content does not compress, so these layers are too big to open.
const big = (n: number) => ({
  [`data/${n}`]: randomBytes(48 * 1024).toString('base64'),
});

interface Case {
  readonly name: string;
  readonly image: BuiltImage;
  /** The request budget: 2 (manifest, config), 3 for an index; layers are told by diff_id. */
  readonly budget: number;
}

async function cases(): Promise<Case[]> {
  const amd = await buildLayeredImage([big(1), big(2), big(3)]);
  const arm = await buildLayeredImage([big(4), big(5)], {
    architecture: 'arm64',
  });
  return [
    {name: 'single, 3 big layers', image: amd, budget: 2},
    {
      name: 'single, 2 small layers',
      image: await buildImage('clean'),
      budget: 2,
    },
    {
      name: 'index, 3 big layers',
      image: buildIndexImage([
        {image: amd, architecture: 'amd64'},
        {image: arm, architecture: 'arm64'},
      ]),
      budget: 3,
    },
    {
      name: 'index, 2 small layers',
      image: await buildImage('index'),
      budget: 3,
    },
  ];
}

/** The same GETs the check makes, straight with fetch: manifests in turn, then config and small layers together. */
export async function floorGets(
  base: string,
  repo: string,
  digest: string,
): Promise<number> {
  let requests = 0;
  const get = async (tail: string, accept?: string) => {
    requests++;
    const res = await fetch(
      `${base}/v2/${repo}/${tail}`,
      accept ? {headers: {Accept: accept}} : {},
    );
    return Buffer.from(await res.arrayBuffer());
  };
  let m = JSON.parse(
    (await get(`manifests/${digest}`, MANIFEST_ACCEPT)).toString(),
  ) as ManifestJson;
  if (m.manifests) {
    const child = m.manifests.find(d => d.platform?.architecture === 'amd64')!;
    m = JSON.parse(
      (await get(`manifests/${child.digest}`, MANIFEST_ACCEPT)).toString(),
    ) as ManifestJson;
  }
  // The config's diff_ids tell whether any layer is empty: no layer needs fetching.
  await get(`blobs/${m.config!.digest}`);
  return requests;
}

/** Prints requests and wall time per check, cold and cached, next to the floor. */
export async function benchCheck(): Promise<void> {
  if (!registryInstalled()) {
    console.log(`bench check: ${REGISTRY_MISSING}`);
    return;
  }
  const registry = await startRegistry();
  try {
    const env = parseSettings({PUSHRUN_REGISTRY_ENDPOINT: registry.baseUrl});
    const rows: string[][] = [];
    for (const c of await cases()) {
      const repo = `bench/demo/${c.name.replace(/[^a-z0-9]+/g, '-')}`;
      await pushBuiltImage(registry.baseUrl, repo, c.image, 'v1');
      const ref = `${AR}/${repo.split('/').pop()}@${c.image.digest}`;
      const floor: number[] = [];
      const cold: number[] = [];
      const warm: number[] = [];
      let coldRequests = 0;
      let warmRequests = 0;
      let floorRequests = 0;
      // One unmeasured round warms up the connection pool and the JIT for both sides.
      await floorGets(registry.baseUrl, repo, c.image.digest);
      await checkImage(
        ref,
        {},
        {registry: makeRegistry(env, {cache: new DigestCache()})},
      );
      for (let i = 0; i < ROUNDS; i++) {
        const [n, tf] = await timed(() =>
          floorGets(registry.baseUrl, repo, c.image.digest),
        );
        floorRequests = n;
        floor.push(tf);
        const reg = makeRegistry(env, {cache: new DigestCache()});
        const [, tc] = await timed(() => checkImage(ref, {}, {registry: reg}));
        coldRequests = reg.requestCount;
        cold.push(tc);
        const [, tw] = await timed(() => checkImage(ref, {}, {registry: reg}));
        warmRequests = reg.requestCount - coldRequests;
        warm.push(tw);
      }
      const ratio = median(cold) / median(floor);
      rows.push([
        c.name,
        `${coldRequests} (≤${c.budget}, floor ${floorRequests})`,
        String(warmRequests),
        median(floor).toFixed(2),
        median(cold).toFixed(2),
        `${ratio.toFixed(2)}×${ratio <= 1.2 ? '' : ' (over 1.2×)'}`,
        median(warm).toFixed(3),
      ]);
    }
    printTable(
      [
        'check by digest',
        'requests cold',
        'cached',
        'floor ms',
        'cold ms',
        'cold/floor',
        'cached ms',
      ],
      rows,
    );
    console.log(
      `(medians of ${ROUNDS} rounds against docker-registry on loopback)`,
    );
  } finally {
    await registry.stop();
  }
}

if (require.main === module) {
  benchCheck().catch(e => {
    console.error(e);
    process.exitCode = 1;
  });
}
