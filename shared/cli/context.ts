/**
 * What every command runs with: the environment, output streams, the exit code, and the
 * settings read from the environment when first asked for.
 */
import type {Command} from 'commander';
import {parseSettings, type Settings} from '../settings';

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

/**
 * A module loaded the first time it is used: commands load what they need when they run, so
 * `pushrun --help` loads the command definitions only.
 */
export function lazy<T>(load: () => T): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load());
}
