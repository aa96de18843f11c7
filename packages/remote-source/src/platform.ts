import { RemoteSourceError } from './errors.ts';

/** An image-index platform, Go naming (`linux`/`arm64`/`v8`). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Go-style platform of this host (`linux`/`amd64`), as image indexes name platforms. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return {
    os: process.platform === 'win32' ? 'windows' : process.platform,
    architecture: arch[process.arch] ?? process.arch,
  };
}

/**
 * Parses `os/arch[/variant]` (`linux/arm64/v8`), as `--platform` takes it. Parts are kept as
 * written; matching normalises them.
 */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  const [os, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || !os || !architecture || (parts.length === 3 && !variant)) {
    throw new RemoteSourceError(
      'REMOTE_INVALID_OPTION',
      `platform '${text}' is not OS/ARCH[/VARIANT] (e.g. linux/amd64, linux/arm64/v8)`,
    );
  }
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export function formatPlatform(platform: Partial<Platform> | undefined): string {
  return `${platform?.os || '?'}/${platform?.architecture || '?'}${platform?.variant ? `/${platform.variant}` : ''}`;
}

/**
 * The canonical spelling of a platform, with containerd's rules (its `platforms.Normalize`):
 * `x86_64`/`x86-64` are `amd64` (variant `v1` is the default, dropped); `aarch64` is `arm64`, whose
 * default variant `v8` is dropped; `armhf` is `arm/v7`, `armel` `arm/v6`, bare `arm` `arm/v7`;
 * `i386` is `386`; the OS is lower case, `macos` is `darwin`.
 */
export function normalizePlatform(platform: Partial<Platform>): Platform {
  let os = (platform.os ?? '').toLowerCase();
  if (os === 'macos') os = 'darwin';
  let architecture = (platform.architecture ?? '').toLowerCase();
  let variant = (platform.variant ?? '').toLowerCase();
  switch (architecture) {
    case 'i386':
      architecture = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
      else if (/^\d+(\.\d+)?$/.test(variant)) variant = `v${variant}`;
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (/^\d+$/.test(variant)) variant = `v${variant}`;
      break;
  }
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/**
 * Picks the entry for `wanted` among index entries: the first whose normalised platform equals the
 * normalised request; when the request named no variant, else the first with the same OS and
 * architecture (any variant); else an index of one entry without a platform. Undefined otherwise.
 */
export function choosePlatform<T extends { platform?: Partial<Platform> | undefined }>(
  entries: readonly T[],
  wanted: Platform,
): T | undefined {
  const want = normalizePlatform(wanted);
  const normalised = entries.map((entry) => (entry.platform ? normalizePlatform(entry.platform) : undefined));
  const same = (p: Platform | undefined) => p?.os === want.os && p.architecture === want.architecture;
  const exact = normalised.findIndex((p) => same(p) && (p?.variant ?? '') === (want.variant ?? ''));
  if (exact >= 0) return entries[exact];
  if (!wanted.variant) {
    const any = normalised.findIndex(same);
    if (any >= 0) return entries[any];
  }
  return entries.length === 1 && !entries[0]!.platform ? entries[0] : undefined;
}
