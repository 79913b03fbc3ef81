/**
 * The sandbox's supersede demo: two builds of one image name pushed in a row under the
 * `queued` mapping (`supersede: queued`). The second push cancels the first run while Batch
 * still has it queued, and the runs table says so. Then `pushrun runs stats` compares the
 * demo's streamed and pulled runs.
 */
import {formatRunTable} from '../shared/cli/runs_command';
import type {RunRecord} from '../shared/runs/record';
import {buildLayeredImage} from './image_builder';
import {pushBuiltImage} from './images';
import {sandboxPushrun} from './live_edit';
import {pollUntil} from './net';
import type {Stack} from './stack';

/** The repository the demo pushes to, under the sandbox's `queued` mapping. */
export const SUPERSEDE_REPO = 'acme/demo/queued';

/** The `queued` mapping of the sandbox config. */
export function supersedeMappingYaml(host: string): string {
  return `  - name: queued
    match:
      image: ${host}/queued
    supersede: queued
    job:
      taskGroups:
        - taskSpec:
            runnables:
              - container:
                  commands: ["echo", "\${IMAGE_TAG}"]
`;
}

/** How the demo went: the older run cancelled by the newer, and the newer run done. */
export interface SupersedeResult {
  readonly ok: boolean;
  readonly older?: RunRecord;
  readonly newer?: RunRecord;
}

/** Pushes `v1`, waits for its run to be recorded, pushes `v2`, and waits for both to end. */
export async function supersedeDemo(
  stack: Stack,
  opts: {location: string; timeoutMs: number},
  say: (text: string) => void,
): Promise<SupersedeResult> {
  const store = stack.store();
  const image = `${opts.location}-docker.pkg.dev/${SUPERSEDE_REPO}`;
  say(
    `\nsuperseding: two builds of ${image} pushed in a row (mapping "queued", supersede: queued):`,
  );
  const push = async (n: number) => {
    const built = await buildLayeredImage([
      {'etc/base': 'base layer\n'},
      {'bin/app': `#!/bin/sh\necho build ${n}\n`},
    ]);
    const digest = await pushBuiltImage(
      stack.registry.baseUrl,
      SUPERSEDE_REPO,
      built,
      `v${n}`,
    );
    say(`  pushed ${image}:v${n}`);
    return `queued-${digest.slice(7, 19)}`;
  };
  const olderId = await push(1);
  const launched = await pollUntil(() => store.get(olderId), opts.timeoutMs);
  if (!launched) {
    say(`✘ supersede: no run ${olderId} was recorded`);
    return {ok: false};
  }
  const newerId = await push(2);
  const ended = (r?: RunRecord) =>
    r && ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(r.state) && r.notifiedAt
      ? r
      : undefined;
  const older = await pollUntil(
    async () => ended(await store.get(olderId)),
    opts.timeoutMs,
  );
  const newer = await pollUntil(
    async () => ended(await store.get(newerId)),
    opts.timeoutMs,
  );
  const runs = [newer, older].filter((r): r is RunRecord => r !== undefined);
  say(formatRunTable(runs).trimEnd().replace(/^/gm, '  '));
  const ok =
    older?.state === 'CANCELLED' &&
    older.supersededBy === newerId &&
    newer?.state === 'SUCCEEDED';
  say(
    `${ok ? '✔' : '✘'} supersede: ${olderId} ${older?.state ?? 'did not end'}` +
      `${older?.supersededBy ? ` (superseded by ${older.supersededBy})` : ''}, ` +
      `${newerId} ${newer?.state ?? 'did not end'}`,
  );
  return {ok, ...(older && {older}), ...(newer && {newer})};
}

/** Prints `pushrun runs stats` over the sandbox's runs. */
export async function printRunStats(
  stack: Stack,
  say: (text: string) => void,
): Promise<number> {
  say('\nhow the runs went, and what streaming saved:');
  return sandboxPushrun(stack, say)('runs', 'stats');
}
