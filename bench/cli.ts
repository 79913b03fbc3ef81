/**
 * How long `pushrun --help` takes, against loading commander alone: the CLI should load its
 * command definitions only, and each command its clients when it runs.
 */
import {spawnSync} from 'node:child_process';
import * as path from 'node:path';
import {repoRoot} from '../sandbox/functions';
import {median, printTable} from './stats';

const RUNS = 15;
const TARGET = 1.5;

function wallMs(args: string[]): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, {cwd: repoRoot()});
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** Prints the `--help` figures. */
export async function benchCli(): Promise<void> {
  const bin = path.join(repoRoot(), 'bin', 'pushrun');
  const help: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, so both see the same machine load.
    baseline.push(wallMs(['-e', "require('commander')"]));
    help.push(wallMs([bin, '--help']));
  }
  printTable(
    ['command', 'median ms', 'runs'],
    [
      [
        'node -e "require(\'commander\')" (baseline)',
        median(baseline).toFixed(0),
        String(RUNS),
      ],
      ['pushrun --help', median(help).toFixed(0), String(RUNS)],
    ],
  );
  console.log(
    `ratio: ${(median(help) / median(baseline)).toFixed(2)}× (target ≤ ${TARGET}×)`,
  );
}
