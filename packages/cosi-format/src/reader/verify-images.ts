import type { ByteSource } from '../byte-source.ts';
import { isCosiError } from '../errors.ts';
import type { ParsedMetadata } from '../metadata/parse.ts';
import type { ImageFile } from '../metadata/schema.ts';
import { lookupImageMember } from '../tar/image-member.ts';
import type { TarIndex } from '../tar/tar-index.ts';
import { imageFileRefs } from '../validation/context.ts';
import type { Finding } from '../validation/findings.ts';
import type { ZstdDecoder } from '../zstd.ts';
import { decodeImage, describeMismatch } from './image-stream.ts';

export interface ImageVerification {
  file: ImageFile;
  /** JSON path of the first place the metadata describes this image. */
  path: string;
  ok: boolean;
  sha384: string | undefined;
  compressedBytes: number;
  uncompressedBytes: number;
  finding: Finding | undefined;
}

/**
 * Reads each distinct image once (an image described both as a filesystem and as a region is the
 * same member) and checks hash, decodability and decoded length against the metadata.
 */
export async function verifyImages(
  reader: { source: ByteSource; index: TarIndex; parsed: ParsedMetadata; decoder: ZstdDecoder },
  options: { signal?: AbortSignal; onImage?: (result: ImageVerification) => void },
): Promise<ImageVerification[]> {
  const seen = new Set<string>();
  const results: ImageVerification[] = [];
  for (const ref of imageFileRefs(reader.parsed)) {
    if (seen.has(ref.file.path)) continue;
    seen.add(ref.file.path);
    const result = await verifyOne(reader, ref.file, ref.path, options.signal);
    results.push(result);
    options.onImage?.(result);
  }
  return results;
}

async function verifyOne(
  reader: { source: ByteSource; index: TarIndex; parsed: ParsedMetadata; decoder: ZstdDecoder },
  file: ImageFile,
  path: string,
  signal: AbortSignal | undefined,
): Promise<ImageVerification> {
  const failed = (
    code: string,
    message: string,
    partial: Partial<ImageVerification> = {},
  ): ImageVerification => ({
    file,
    path,
    ok: false,
    sha384: undefined,
    compressedBytes: 0,
    uncompressedBytes: 0,
    ...partial,
    finding: { code, severity: 'error', path, message },
  });
  const lookup = lookupImageMember(reader.index.byPath, file.path);
  if (!lookup.ok)
    return failed(
      lookup.reason === 'missing' ? 'COSI_IMAGE_MEMBER_MISSING' : 'COSI_IMAGE_MEMBER_NOT_FILE',
      lookup.message,
    );
  const entry = lookup.entry;
  try {
    const decoded = await decodeImage(reader.source, entry, {
      decoder: reader.decoder,
      maxWindowLog: reader.parsed.metadata.compression?.maxWindowLog,
      limit: file.uncompressedSize,
      signal,
    });
    if (decoded.overLimit) {
      return failed(
        'COSI_IMAGE_SIZE_MISMATCH',
        `image "${file.path}" decodes to more than its uncompressedSize ${file.uncompressedSize}`,
        {
          compressedBytes: decoded.compressedBytes,
          uncompressedBytes: decoded.uncompressedBytes,
        },
      );
    }
    const mismatch = describeMismatch(file, decoded);
    if (mismatch) {
      return failed(
        mismatch.field === 'sha384' ? 'COSI_IMAGE_HASH_MISMATCH' : 'COSI_IMAGE_SIZE_MISMATCH',
        mismatch.message,
        decoded,
      );
    }
    return { file, path, ok: true, ...decoded, finding: undefined };
  } catch (error) {
    if (isCosiError(error, 'COSI_IMAGE_CORRUPT'))
      return failed('COSI_IMAGE_CORRUPT', `image "${file.path}": ${error.message}`);
    throw error;
  }
}
