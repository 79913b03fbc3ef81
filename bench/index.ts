/**
 * `npm run bench`: every benchmark, each against a baseline measured in the same run.
 * Figures are printed, not asserted: targets are read by people, not by the test suite.
 */
import {benchBurst} from './burst';
import {benchCheck} from './check';
import {benchCli} from './cli';
import {benchLaunch} from './launch';
import {benchLiveConfig} from './live_config';
import {benchRecorder} from './recorder';

const BENCHES: [string, () => Promise<void>][] = [
  ['check: registry requests and wall time per check', benchCheck],
  ['launch: cold start and warm handler time', benchLaunch],
  ['burst: one instance, 1,000 deliveries of 200 pushes', benchBurst],
  ['recorder: job state handler time', benchRecorder],
  ['cli: pushrun --help', benchCli],
  ['live config: cold start and apply → push', benchLiveConfig],
];

async function main(): Promise<void> {
  const only = process.argv[2];
  for (const [title, run] of BENCHES) {
    if (only && !title.startsWith(only)) continue;
    console.log(`\n## ${title}\n`);
    await run();
  }
}

main().then(
  () => process.exit(0),
  err => {
    console.error(err);
    process.exit(1);
  },
);
