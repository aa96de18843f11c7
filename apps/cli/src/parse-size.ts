import { CliError } from './cli-error.ts';

/** A size flag: bytes, or a number with K, M, G, T (powers of 1024), optionally followed by B or iB. */
export function parseSize(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+)([KMGT]?)(i?B)?$/iu.exec(text.trim());
  if (!match)
    throw new CliError(
      'CLI_BAD_OPTION',
      `${flag} must be a size such as 8G, 512M or 4294967296, not "${text}"`,
    );
  const power = { '': 0, K: 1, M: 2, G: 3, T: 4 }[match[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Number(match[1]) * 1024 ** power;
}
