/**
 * Platforms `os/arch[/variant]` and how an index entry is chosen for one, after containerd's
 * `platforms` package: arm64 means arm64/v8 and arm means arm/v7 when no variant is written.
 */
/** A platform such as linux/amd64 or linux/arm64/v8. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** The platform Batch VMs run unless the user says otherwise. */
export const DEFAULT_PLATFORM = 'linux/amd64';

const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
};
const DEFAULT_VARIANT: Record<string, string> = {arm64: 'v8', arm: 'v7'};
const PART = /^[a-z0-9_.-]+$/;

/** Parses `os/arch[/variant]`; throws a precise message on anything else. */
export function parsePlatform(text: string): Platform {
  const parts = text.toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || !parts.every(p => PART.test(p))) {
    throw new Error(
      `invalid platform "${text}": write os/arch or os/arch/variant, like linux/amd64 or linux/arm64/v8`,
    );
  }
  const [os, arch, variant] = parts;
  return normalizePlatform({os, architecture: arch, variant});
}

/** Maps architecture aliases and drops a variant that is the architecture's default. */
export function normalizePlatform(p: Platform): Platform {
  const architecture = ARCH_ALIASES[p.architecture] ?? p.architecture;
  const variant =
    p.variant && p.variant !== DEFAULT_VARIANT[architecture]
      ? p.variant
      : undefined;
  return variant ? {os: p.os, architecture, variant} : {os: p.os, architecture};
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Whether an image built for `have` runs as `want` (both normalized). */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  return (
    w.os === h.os &&
    w.architecture === h.architecture &&
    (w.variant ?? '') === (h.variant ?? '')
  );
}

/**
 * Whether a platform names no real os or architecture: BuildKit writes `unknown/unknown` for the
 * attestation entries of an index. No image runs there, so it is never offered as a platform.
 */
export function isUnknownPlatform(p: Platform): boolean {
  return p.os === 'unknown' || p.architecture === 'unknown';
}

/** The index entry for `want`, or undefined; entries without a platform never match. */
export function selectPlatform<D extends {readonly platform?: Platform}>(
  manifests: readonly D[],
  want: Platform,
): D | undefined {
  return manifests.find(d => d.platform && platformMatches(want, d.platform));
}
