import { openCosi } from '@trident/cosi-format';
import { openInput } from '../open-input.ts';
import type { Output } from '../output.ts';
import type { SourceFlags } from '../source-options.ts';

/** Prints the metadata SHA-384 to pin in a Host Configuration (`image.sha384`) or a StreamDisk request. */
export async function hashCommand(
  location: string,
  output: Output,
  options: { signal?: AbortSignal; source?: SourceFlags },
): Promise<number> {
  const reader = await openCosi(
    await openInput(location, options),
    options.signal ? { signal: options.signal } : {},
  );
  try {
    if (output.json)
      output.printJson({ sha384: reader.metadataSha384, grpc: `sha384:${reader.metadataSha384}` });
    else output.line(reader.metadataSha384);
    return 0;
  } finally {
    await reader.close();
  }
}
