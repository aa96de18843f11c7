import { RemoteSourceError } from './errors.ts';
import type { RandomAccessSource, ReadOptions } from './types.ts';

export function checkBounds(url: string, size: number, offset: number, length: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  ) {
    throw new RemoteSourceError(
      'REMOTE_OUT_OF_RANGE',
      `${url}: read of ${length} bytes at offset ${offset} is outside the object (${size} bytes)`,
      { url, offset },
    );
  }
}

/** `read()` in terms of `stream()`: exactly `length` bytes in one buffer. */
export async function collect(
  source: RandomAccessSource,
  offset: number,
  length: number,
  options: ReadOptions,
): Promise<Uint8Array> {
  checkBounds(source.url, source.size, offset, length);
  const out = Buffer.allocUnsafe(length);
  let filled = 0;
  for await (const chunk of source.stream(offset, length, options)) {
    out.set(chunk, filled);
    filled += chunk.length;
  }
  if (filled !== length) {
    throw new RemoteSourceError(
      'REMOTE_OUT_OF_RANGE',
      `${source.url}: got ${filled} of ${length} bytes at offset ${offset}`,
      {
        url: source.url,
        offset,
      },
    );
  }
  return out;
}
