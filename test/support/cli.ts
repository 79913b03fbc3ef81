/** Runs the CLI in process and keeps what it printed, for tests. */
import {Command} from 'commander';
import {
  cliContext,
  type CliContext,
  type CommandModule,
} from '../../shared/cli/context';
import {main} from '../../shared/cli/main';

/** The exit code and what was printed on each stream. */
export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** `pushrun ARGS` through `main`, with every real command module. */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await main(
    ['node', 'pushrun', ...args],
    env,
    t => (out += t),
    t => (err += t),
  );
  return {code, out, err};
}

/** `pushrun ARGS` with one command module (built with fakes) wired the way `main` wires it. */
export async function runModule(
  module: CommandModule,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  let out = '';
  let err = '';
  let code = 0;
  const ctx: CliContext = cliContext(
    env,
    t => (out += t),
    t => (err += t),
    c => (code = c),
  );
  const program = new Command('pushrun')
    .exitOverride()
    .configureOutput({writeOut: ctx.out, writeErr: ctx.err});
  module(program, ctx);
  await program.parseAsync(['node', 'pushrun', ...args]);
  return {code, out, err};
}
