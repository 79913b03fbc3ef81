/** The `pushrun` command line: parses arguments and hands each command to its module. */
import {Command, CommanderError} from 'commander';
import {cliContext, type CommandModule} from './context';
import {registerCheckCommand} from './check_command';
import {registerConfigCommand} from './config_command';
import {registerPlanCommand} from './plan_command';
import {registerReplayCommand} from './replay_command';
import {registerRunsCommand} from './runs_command';

const COMMAND_MODULES: CommandModule[] = [
  registerCheckCommand,
  registerConfigCommand,
  registerPlanCommand,
  registerReplayCommand,
  registerRunsCommand,
];

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
