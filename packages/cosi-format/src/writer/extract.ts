import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, realpath, rm } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { type ByteSource, streamRange } from '../byte-source.ts';
import { CosiError } from '../errors.ts';
import type { CosiMetadata, ImageFile } from '../metadata/schema.ts';
import { createNodeZstdCodec, type ZstdCodec } from './codec.ts';
import { writeNonZero } from './sparse-copy.ts';

/** What the reader (`openCosi`) already knows: works the same for local and remote sources. */
export interface ExtractCosiInput {
  source: ByteSource;
  /** Tar members by normalised path (`CosiReader.index.byPath` fits). */
  entries: ReadonlyMap<string, { dataOffset: number; size: number }>;
  metadata: CosiMetadata;
}

export interface ExtractCosiOptions {
  /** Decoder; default node:zlib with multi-frame and skippable-frame support. */
  codec?: Pick<ZstdCodec, 'decompress'>;
  /** Which image paths to extract (default: all). */
  filter?: (imagePath: string) => boolean;
  /** Leave holes for all-zero 64 KiB blocks (default true). */
  sparse?: boolean;
  signal?: AbortSignal;
}

export interface ExtractedImage {
  /** Path of the image in the COSI (`images/partition-2.raw.zst`). */
  imagePath: string;
  /** File written: the image path under the directory, without its `.zst` suffix. */
  file: string;
  size: number;
}

/** Every distinct image file the metadata names: regions first, then filesystems and verity. */
function imageFiles(metadata: CosiMetadata): ImageFile[] {
  const all = [
    ...(metadata.disk?.gptRegions ?? []).map((r) => r.image),
    ...metadata.images.flatMap((fs) => (fs.verity ? [fs.image, fs.verity.image] : [fs.image])),
  ];
  const seen = new Map<string, ImageFile>();
  for (const file of all) if (!seen.has(file.path)) seen.set(file.path, file);
  return [...seen.values()];
}

/** Refuses image paths that would land outside `root` (absolute, `..`, NUL). */
function safeTarget(root: string, imagePath: string): string {
  const name = imagePath.replace(/\.(zst|zstd)$/u, '');
  const parts = name.split('/');
  const target = resolve(root, name);
  const rel = relative(root, target);
  if (
    isAbsolute(name) ||
    name.includes('\0') ||
    parts.includes('..') ||
    rel === '' ||
    rel.startsWith(`..${sep}`) ||
    rel === '..' ||
    isAbsolute(rel)
  ) {
    throw new CosiError(
      'COSI_EXTRACT_UNSAFE_PATH',
      `image path "${imagePath}" would be written outside ${root}; refusing it`,
      {
        member: imagePath,
      },
    );
  }
  return target;
}

async function* tee(
  input: AsyncIterable<Uint8Array>,
  onChunk: (chunk: Uint8Array) => void,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of input) {
    onChunk(chunk);
    yield chunk;
  }
}

/**
 * Writes each image of a COSI, decompressed, under `directory`. The SHA-384 of the compressed
 * bytes and the decompressed length are checked while writing (COSI 1.2 §ImageFile); a file that
 * fails either check is deleted and the error names the image.
 */
export async function extractCosi(
  cosi: ExtractCosiInput,
  directory: string,
  options: ExtractCosiOptions = {},
): Promise<ExtractedImage[]> {
  const codec = options.codec ?? createNodeZstdCodec();
  await mkdir(directory, { recursive: true });
  const root = await realpath(directory);
  const files = imageFiles(cosi.metadata).filter((f) => options.filter?.(f.path) ?? true);
  // Check every path before writing anything.
  const targets = files.map((file) => safeTarget(root, file.path));
  const results: ExtractedImage[] = [];
  for (const [i, file] of files.entries()) {
    const target = targets[i]!;
    const member = cosi.entries.get(file.path);
    if (member === undefined) {
      throw new CosiError(
        'COSI_MEMBER_NOT_FOUND',
        `${cosi.source.url}: image ${file.path} is not in the archive`,
        { member: file.path },
      );
    }
    const parent = join(target, '..');
    await mkdir(parent, { recursive: true });
    // A symlink planted inside the directory must not redirect the write.
    const realParent = await realpath(parent);
    if (realParent !== root && !realParent.startsWith(root + sep)) {
      throw new CosiError(
        'COSI_EXTRACT_UNSAFE_PATH',
        `image path "${file.path}" resolves outside ${root} through a symlink`,
        { member: file.path },
      );
    }
    const out = await open(
      target,
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
      0o600,
    );
    const hash = createHash('sha384');
    let written = 0;
    try {
      const input = tee(
        streamRange(
          cosi.source,
          member.dataOffset,
          member.size,
          options.signal ? { signal: options.signal } : {},
        ),
        (chunk) => {
          hash.update(chunk);
        },
      );
      const maxWindowLog = cosi.metadata.compression?.maxWindowLog;
      for await (const chunk of codec.decompress(input, { maxWindowLog, signal: options.signal })) {
        if (written + chunk.length > file.uncompressedSize) {
          throw new CosiError(
            'COSI_IMAGE_SIZE_MISMATCH',
            `${file.path} decompresses to more than its uncompressedSize ${file.uncompressedSize}`,
            {
              member: file.path,
            },
          );
        }
        if (options.sparse ?? true) await writeNonZero(out, chunk, written);
        else
          for (let done = 0; done < chunk.length; )
            done += (await out.write(chunk, done, chunk.length - done, written + done)).bytesWritten;
        written += chunk.length;
      }
      await out.truncate(written);
      const sha384 = hash.digest('hex');
      if (file.sha384 !== undefined && sha384 !== file.sha384.toLowerCase()) {
        throw new CosiError(
          'COSI_IMAGE_HASH_MISMATCH',
          `${file.path}: SHA-384 of the compressed image is ${sha384}, metadata says ${file.sha384}`,
          {
            member: file.path,
          },
        );
      }
      if (written !== file.uncompressedSize) {
        throw new CosiError(
          'COSI_IMAGE_SIZE_MISMATCH',
          `${file.path} decompressed to ${written} bytes, metadata says ${file.uncompressedSize}`,
          {
            member: file.path,
          },
        );
      }
    } catch (error) {
      await out.close();
      await rm(target, { force: true });
      throw error;
    }
    await out.close();
    results.push({ imagePath: file.path, file: target, size: written });
  }
  return results;
}
