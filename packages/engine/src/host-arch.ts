import { arch } from 'node:os';

/** The host's architecture in COSI `osArch` terms (`x86_64` or `aarch64`), undefined elsewhere. */
export function hostOsArch(): 'x86_64' | 'aarch64' | undefined {
  const value = arch();
  if (value === 'x64') return 'x86_64';
  if (value === 'arm64') return 'aarch64';
  return undefined;
}

const ALIASES: Record<string, 'x86_64' | 'aarch64'> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  x64: 'x86_64',
  arm64: 'aarch64',
  aarch64: 'aarch64',
};

export function normalizeOsArch(value: string): 'x86_64' | 'aarch64' | undefined {
  return ALIASES[value.toLowerCase()];
}
