import { extractCosi, openCosi } from '@trident/cosi-format';
import { CliError } from '../cli-error.ts';
import { openInput } from '../open-input.ts';
import { formatBytes, type Output } from '../output.ts';
import type { SourceFlags } from '../source-options.ts';

/** `trident cosi extract <cosi> -o <dir>`: every image decompressed and verified, confined to `dir`. */
export async function extractCommand(
  location: string,
  output: Output,
  options: { directory: string | undefined; signal: AbortSignal; source?: SourceFlags },
): Promise<number> {
  if (!options.directory)
    throw new CliError('CLI_MISSING_ARGUMENT', 'trident cosi extract needs -o/--output <directory>');
  const reader = await openCosi(
    await openInput(location, {
      signal: options.signal,
      ...(options.source ? { source: options.source } : {}),
    }),
    {
      signal: options.signal,
    },
  );
  try {
    const extracted = await extractCosi(
      { source: reader.source, entries: reader.index.byPath, metadata: reader.metadata },
      options.directory,
      {
        signal: options.signal,
      },
    );
    if (output.json) output.printJson(extracted);
    else
      for (const image of extracted)
        output.line(`${image.file}  ${formatBytes(image.size)}  (${image.imagePath}, verified)`);
    return 0;
  } finally {
    await reader.close();
  }
}
