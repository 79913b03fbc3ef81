/** The `pushrun` command line: parses arguments and hands each command to its module. */
import {Command, CommanderError} from 'commander';
import {parseSettings, type Settings} from '../settings';
import {registerCheckCommand} from './check_command';
import {registerConfigCommand} from './config_command';
import {registerPlanCommand} from './plan_command';
import {registerReplayCommand} from './replay_command';
import {registerRunsCommand} from './runs_command';

/** A command module adds its subcommand and sets `exitCode` through `setExit`. */
export interface CliContext {
  readonly env: NodeJS.ProcessEnv;
  /** `env` as settings, read when a command first asks (a malformed value throws ConfigError). */
  settings(): Settings;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  setExit(code: number): void;
}

/** Registers one subcommand on the program. */
export type CommandModule = (program: Command, ctx: CliContext) => void;

const COMMAND_MODULES: CommandModule[] = [
  registerCheckCommand,
  registerConfigCommand,
  registerPlanCommand,
  registerReplayCommand,
  registerRunsCommand,
];

/** The context commands run in. */
export function cliContext(
  env: NodeJS.ProcessEnv,
  out: (text: string) => void,
  err: (text: string) => void,
  setExit: (code: number) => void,
): CliContext {
  let settings: Settings | undefined;
  return {
    env,
    out,
    err,
    setExit,
    settings: () => (settings ??= parseSettings(env)),
  };
}

/** Runs the CLI and resolves to the process exit code. */
export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (text: string) => void = t => process.stdout.write(t),
  err: (text: string) => void = t => process.stderr.write(t),
): Promise<number> {
  let exitCode = 0;
  const ctx = cliContext(env, out, err, c => (exitCode = c));
  const program = new Command('pushrun')
    .description(
      'Push an image, and the Batch jobs configured for it start, streaming whenever they can.',
    )
    .exitOverride()
    .configureOutput({writeOut: out, writeErr: err});
  for (const register of COMMAND_MODULES) register(program, ctx);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? 0 : 2;
    }
    throw e;
  }
  return exitCode;
}
