import { open } from 'node:fs/promises';
import {
  DEFAULT_ENTRY_COUNT,
  DEFAULT_ENTRY_SIZE,
  GPT_SIGNATURE,
  type Gpt,
  parseGpt,
} from '@trident/cosi-format';

/**
 * The primary GPT of an existing disk or disk-image file, read without opening it for writing:
 * what a finalize-only install checks against the staged disk and what an install adopting
 * partitions matches against. Undefined when LBA 1 holds no GPT signature; a damaged table throws
 * cosi-format's `COSI_GPT_INVALID`. Tables with the usual 128 entries of 128 bytes are read whole;
 * cosi-format's decoder checks the header, its CRCs and the entries against `size`.
 */
export async function readDiskGpt(target: {
  path: string;
  size: number;
  sectorSize: number;
}): Promise<Gpt | undefined> {
  const lbaSize = target.sectorSize === 4096 ? 4096 : 512;
  // Protective MBR, header and the entry array: 34 sectors of 512 bytes, 6 of 4096.
  const length = lbaSize * (2 + Math.ceil((DEFAULT_ENTRY_COUNT * DEFAULT_ENTRY_SIZE) / lbaSize));
  const handle = await open(target.path, 'r');
  try {
    const bytes = new Uint8Array(length);
    await handle.read(bytes, 0, length, 0);
    const signature = new TextDecoder('latin1').decode(bytes.subarray(lbaSize, lbaSize + 8));
    if (signature !== GPT_SIGNATURE) return undefined;
    return parseGpt(bytes, { lbaSize, diskSize: target.size });
  } finally {
    await handle.close();
  }
}
