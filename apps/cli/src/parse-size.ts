import { parseByteCount } from '@trident/units';
import { CliError } from './cli-error.ts';

/** A size flag (`8G`, `512M`, `8GiB`, `4294967296`), read with the Host Configuration's size grammar. */
export function parseSize(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const bytes = parseByteCount(text, { relaxed: true });
  if (bytes === undefined)
    throw new CliError(
      'CLI_BAD_OPTION',
      `${flag} must be a size such as 8G, 512M or 4294967296, not "${text}"`,
    );
  return bytes;
}
