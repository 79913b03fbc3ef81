/**
 * The sandbox's live edit: the demo config is applied as live version 1, an edit of the demo
 * mapping's command as version 2 (no deploy), and a push shows the new command reaching the
 * Batch stand-in. Then the commands a person can type to do the same are printed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {main} from '../shared/cli/main';
import {pushImage} from './images';
import {pollUntil} from './net';
import type {Stack} from './stack';

/** The text the edit puts in the demo command, to find it again in the CreateJob request. */
export const LIVE_EDIT_MARK = 'edited live';

/** The demo config with the demo mapping's command changed. */
export function editedConfig(configText: string): string {
  const edited = configText.replace(
    '"hello from ${IMAGE_NAME}',
    `"${LIVE_EDIT_MARK}: hello from \${IMAGE_NAME}`,
  );
  if (edited === configText) throw new Error('the demo command is not there');
  return edited;
}

/**
 * Runs `pushrun ARGS` in process against the sandbox's emulators, printing the command and its
 * output as a person would see them; resolves to the exit code.
 */
export function sandboxPushrun(
  stack: Stack,
  say: (text: string) => void,
): (...args: string[]) => Promise<number> {
  const env = {
    GOOGLE_CLOUD_PROJECT: stack.project,
    FIRESTORE_EMULATOR_HOST: stack.firestoreHost,
  };
  return async (...args: string[]) => {
    say(
      `  $ npx pushrun ${args.map(a => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}`,
    );
    return main(['node', 'pushrun', ...args], env, t =>
      say(t.replace(/\n$/, '').replace(/^/gm, '    ')),
    );
  };
}

/** The commands of the first container of the CreateJob request for `jobId`, once sent. */
export function createdCommands(
  stack: Pick<Stack, 'standin'>,
  jobId: string,
): string[] | undefined {
  const req = stack.standin.requests.find(
    r => r.method === 'CreateJob' && r.request.jobId === jobId,
  );
  const job = (
    req?.request as
      | {
          job: {
            taskGroups: {
              taskSpec: {runnables: {container: {commands: string[]}}[]};
            }[];
          };
        }
      | undefined
  )?.job;
  return job?.taskGroups[0].taskSpec.runnables[0].container.commands;
}

/** How the live edit went: whether the edited command reached Batch, and what to type. */
export interface LiveEditResult {
  readonly ok: boolean;
  readonly commands: readonly string[];
}

/**
 * Applies the demo config and then its edit with `pushrun config apply`, waits the TTL, pushes
 * `repo:v2`, and waits for its CreateJob request at the stand-in.
 */
export async function liveEdit(
  stack: Stack,
  opts: {location: string; ttlMs: number; timeoutMs: number},
  say: (text: string) => void,
): Promise<LiveEditResult> {
  const pushrun = sandboxPushrun(stack, say);
  const dir = path.dirname(stack.configFile);
  const edited = path.join(dir, 'pushrun-edited.yaml');
  fs.writeFileSync(
    edited,
    editedConfig(fs.readFileSync(stack.configFile, 'utf8')),
  );

  say('\nediting the mappings live, without a deploy:');
  await pushrun(
    'config',
    'apply',
    stack.configFile,
    '--yes',
    '--message',
    'the demo config',
  );
  const applied = await pushrun(
    'config',
    'apply',
    edited,
    '--yes',
    '--message',
    'a new demo command',
  );
  await new Promise(r => setTimeout(r, opts.ttlMs + 200));
  const digest = await pushImage(
    stack.registry.baseUrl,
    'acme/demo/app',
    'v2',
    'oci',
  );
  say(`  pushed ${opts.location}-docker.pkg.dev/acme/demo/app:v2`);
  const jobId = `demo-${digest.slice(7, 19)}`;
  const commands = await pollUntil(
    () => createdCommands(stack, jobId),
    opts.timeoutMs,
  );
  await pushrun('config', 'history');
  const ok =
    applied === 0 && (commands ?? []).some(c => c.includes(LIVE_EDIT_MARK));
  say(
    `${ok ? '✔' : '✘'} live edit: job ${jobId} got ${commands ? JSON.stringify(commands) : 'no CreateJob'}`,
  );
  const vars = `FIRESTORE_EMULATOR_HOST=${stack.firestoreHost} GOOGLE_CLOUD_PROJECT=${stack.project}`;
  return {
    ok,
    commands: [
      `export ${vars}`,
      `npx pushrun config diff ${edited}`,
      `npx pushrun config apply ${edited} --message "why"`,
      'npx pushrun config history',
      'npx pushrun config rollback 1',
    ],
  };
}
