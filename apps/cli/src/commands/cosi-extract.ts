import { extractCosi, isCosiError, openCosi } from '@trident/cosi-format';
import { formatBytes } from '@trident/units';
import { CliError, EXIT } from '../cli-error.ts';
import { openInput } from '../open-input.ts';
import type { Output } from '../output.ts';
import type { SourceFlags } from '../source-options.ts';

/** Extraction failures that are the machine's, not the image's: exit 3 like other I/O failures. */
const ENVIRONMENT = new Set(['COSI_EXTRACT_NO_SPACE', 'COSI_EXTRACT_IO']);

/**
 * `trident cosi extract <cosi> -o <dir> [--force]`: every image decompressed and verified, confined
 * to `dir`. Each file appears under its name only once verified; existing files are kept unless
 * `--force` (which replaces them by rename, never writing through a file or link). Interrupted, it
 * exits 4 and leaves no partial file.
 */
export async function extractCommand(
  location: string,
  output: Output,
  options: { directory: string | undefined; force?: boolean; signal: AbortSignal; source?: SourceFlags },
): Promise<number> {
  if (!options.directory)
    throw new CliError('CLI_MISSING_ARGUMENT', 'trident cosi extract needs -o/--output <directory>');
  const { signal } = options;
  try {
    const reader = await openCosi(
      await openInput(location, { signal, ...(options.source ? { source: options.source } : {}) }),
      { signal },
    );
    try {
      const extracted = await extractCosi(
        { source: reader.source, entries: reader.index.byPath, metadata: reader.metadata },
        options.directory,
        { signal, overwrite: options.force === true },
      );
      if (output.json) output.printJson(extracted);
      else
        for (const image of extracted)
          output.line(`${image.file}  ${formatBytes(image.size)}  (${image.imagePath}, verified)`);
      return EXIT.ok;
    } finally {
      await reader.close();
    }
  } catch (error) {
    // Whatever a read or the decoder threw once the user interrupted, the cause is the interruption,
    // not a corrupt image.
    if (signal.aborted) {
      throw signal.reason instanceof CliError
        ? signal.reason
        : new CliError('CLI_INTERRUPTED', 'interrupted', EXIT.interrupted);
    }
    if (isCosiError(error) && ENVIRONMENT.has(error.code))
      throw new CliError(error.code, error.message, EXIT.io);
    throw error;
  }
}
