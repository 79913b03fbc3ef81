/** `pushrun check IMAGE [--platform os/arch] [--region R] [--json]`: can Batch stream this image? */
import type {Command} from 'commander';
import type {CheckReport} from '../check';
import {errorMessage} from '../errors';
import {UnknownRegionError} from '../locations';
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

/**
 * The report as people read it: a ✔/✘ line, the image's identity (with the index's child that was
 * judged), then each reason and each warning.
 */
export function formatCheckReport(report: CheckReport): string {
  const warned = report.warnings.length
    ? ` (${report.warnings.length} warning${report.warnings.length === 1 ? '' : 's'} below)`
    : '';
  const notImage = report.reasons.some(r => r.code === 'NOT_A_CONTAINER_IMAGE');
  const platform =
    report.platform ??
    (notImage ? '(none: not a container image)' : '(none matched)');
  const lines = [
    `${report.streamable ? '✔ streamable' : '✘ not streamable'}${warned}: ${report.image}`,
    `  digest:     ${report.digest}`,
    `  media type: ${report.mediaType}`,
    `  platform:   ${platform}`,
  ];
  if (report.platformDigest && report.platformDigest !== report.digest) {
    lines.push(
      `  judged:     ${report.platformDigest} (the index's ${report.platform ?? 'chosen'} entry)`,
    );
  }
  for (const r of report.reasons) lines.push(`  ✘ ${r.code}: ${r.message}`);
  for (const w of report.warnings) lines.push(`  ⚠ ${w.code}: ${w.message}`);
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
        ...(opts.region !== undefined && {region: opts.region}),
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
    // A usage error says what to write instead; anything else (bad reference, not found,
    // unreachable, bad platform) means the verdict cannot be told.
    ctx.err(
      e instanceof UnknownRegionError
        ? `pushrun check: --region ${errorMessage(e)}\n`
        : `pushrun check: could not tell whether ${image} can be streamed: ${errorMessage(e)}\n`,
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
      "the job's region, to check the image's location (a region such as us-central1, not a zone)",
    )
    .option(
      '--json',
      'print {image, digest, mediaType, platform, streamable, reasons, platformDigest, warnings}',
    )
    .action(
      (
        image: string,
        opts: {platform?: string; region?: string; json?: boolean},
      ) => runCheck(image, opts, ctx),
    );
};
