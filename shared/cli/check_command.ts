/** `pushrun check IMAGE [--platform os/arch] [--region R] [--json]`: can Batch stream this image? */
import type {Command} from 'commander';
import type {CheckReport} from '../check';
import {errorMessage} from '../errors';
import {lazy, type CliContext, type CommandModule} from './context';

const check = lazy(() => require('../check') as typeof import('../check'));
const registry = lazy(
  () => require('../registry') as typeof import('../registry'),
);

/** Exit codes of `pushrun check` (DESIGN.md contract). */
export const CHECK_EXIT = {
  streamable: 0,
  notStreamable: 1,
  unknown: 2,
} as const;

/** The report as people read it: a ✔/✘ line, the image's identity, then each reason. */
export function formatCheckReport(report: CheckReport): string {
  const lines = [
    `${report.streamable ? '✔ streamable' : '✘ not streamable'}: ${report.image}`,
    `  digest:     ${report.digest}`,
    `  media type: ${report.mediaType}`,
    `  platform:   ${report.platform ?? '(none matched)'}`,
  ];
  for (const r of report.reasons) lines.push(`  ✘ ${r.code}: ${r.message}`);
  return lines.join('\n') + '\n';
}

async function runCheck(
  image: string,
  opts: {platform?: string; region?: string; json?: boolean},
  ctx: CliContext,
): Promise<void> {
  try {
    const report = await check().checkImage(
      image,
      {
        ...(opts.platform && {platform: opts.platform}),
        ...(opts.region && {region: opts.region}),
      },
      {registry: registry().makeRegistry(ctx.settings())},
    );
    ctx.out(
      opts.json
        ? JSON.stringify(report, null, 2) + '\n'
        : formatCheckReport(report),
    );
    ctx.setExit(
      report.streamable ? CHECK_EXIT.streamable : CHECK_EXIT.notStreamable,
    );
  } catch (e) {
    // Bad reference, not found, unreachable, bad platform: the verdict cannot be told.
    ctx.err(
      `pushrun check: could not tell whether ${image} can be streamed: ${errorMessage(e)}\n`,
    );
    ctx.setExit(CHECK_EXIT.unknown);
  }
}

/** Registers `check`. */
export const registerCheckCommand: CommandModule = (
  program: Command,
  ctx: CliContext,
) => {
  program
    .command('check')
    .description(
      'Tell whether Batch can stream IMAGE (a registry reference, or oci:DIR[:TAG]); exit 0 streamable, 1 not, 2 could not tell.',
    )
    .argument('<image>', 'image reference by tag or digest, or oci:DIR[:TAG]')
    .option(
      '--platform <os/arch>',
      'platform of a multi-platform image to judge',
      'linux/amd64',
    )
    .option(
      '--region <region>',
      "the job's region, to check the image's location",
    )
    .option(
      '--json',
      'print {image, digest, mediaType, platform, streamable, reasons}',
    )
    .action(
      (
        image: string,
        opts: {platform?: string; region?: string; json?: boolean},
      ) => runCheck(image, opts, ctx),
    );
};
