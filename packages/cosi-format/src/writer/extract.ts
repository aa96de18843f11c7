import { createHash } from 'node:crypto';
import { lstat, mkdir, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { type ByteSource, streamRange } from '../byte-source.ts';
import { CosiError } from '../errors.ts';
import type { CosiMetadata, ImageFile } from '../metadata/schema.ts';
import { lookupImageMember } from '../tar/image-member.ts';
import type { TarEntry } from '../tar/tar-index.ts';
import { createNodeZstdCodec, type ZstdCodec } from './codec.ts';
import { abortReason, createOutputFile, extractIoError, type OutputFile } from './output-file.ts';

/** What the reader (`openCosi`) already knows: works the same for local and remote sources. */
export interface ExtractCosiInput {
  source: ByteSource;
  /** Tar members by normalised path (`CosiReader.index.byPath` fits); types are checked. */
  entries: ReadonlyMap<string, TarEntry>;
  metadata: CosiMetadata;
}

export interface ExtractCosiOptions {
  /** Decoder; default node:zlib with multi-frame and skippable-frame support. */
  codec?: Pick<ZstdCodec, 'decompress'>;
  /** Which image paths to extract (default: all). */
  filter?: (imagePath: string) => boolean;
  /** Leave holes for all-zero 64 KiB blocks (default true). */
  sparse?: boolean;
  /**
   * Replace files that already exist at the output paths (default false: refuse with
   * COSI_EXTRACT_EXISTS before writing anything). Even then nothing is written through an
   * existing file or link: the verified image is renamed over the name.
   */
  overwrite?: boolean;
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
      { member: imagePath },
    );
  }
  return target;
}

/** The parent directory of `target`, created if needed, and proven to resolve inside `root`. */
async function confinedParent(root: string, target: string, imagePath: string): Promise<string> {
  const parent = resolve(target, '..');
  try {
    await mkdir(parent, { recursive: true });
  } catch (error) {
    throw extractIoError(error, parent, imagePath);
  }
  // A symlink planted inside the directory must not redirect the write.
  const real = await realpath(parent).catch((error: unknown) => {
    throw extractIoError(error, parent, imagePath);
  });
  if (real !== root && !real.startsWith(root + sep)) {
    throw new CosiError(
      'COSI_EXTRACT_UNSAFE_PATH',
      `image path "${imagePath}" resolves outside ${root} through a symlink (${parent} -> ${real}); refusing it`,
      { member: imagePath },
    );
  }
  return parent;
}

/**
 * Writes each image of a COSI, decompressed, under `directory`. Every check runs before the file
 * appears under its name: each image goes to a private temporary file created with
 * O_EXCL|O_NOFOLLOW beside its final name, its SHA-384 (over the compressed bytes) and length are
 * checked (COSI 1.2 §ImageFile), it is synced, and only then linked (or, with `overwrite`, renamed)
 * into place. So nothing is ever written through a file, hard link or symlink planted at an output
 * path, a failed or interrupted extraction leaves no partial file, and existing files are kept
 * unless `overwrite` says otherwise. Archive members must be regular files, by the same rule
 * validation applies.
 */
export async function extractCosi(
  cosi: ExtractCosiInput,
  directory: string,
  options: ExtractCosiOptions = {},
): Promise<ExtractedImage[]> {
  const codec = options.codec ?? createNodeZstdCodec();
  try {
    await mkdir(directory, { recursive: true });
  } catch (error) {
    throw extractIoError(error, directory, undefined);
  }
  const root = await realpath(directory);
  const files = imageFiles(cosi.metadata).filter((f) => options.filter?.(f.path) ?? true);
  // Check every path and member before writing anything.
  const plan = files.map((file) => {
    const lookup = lookupImageMember(cosi.entries, file.path);
    if (!lookup.ok) {
      throw new CosiError(
        lookup.reason === 'missing' ? 'COSI_MEMBER_NOT_FOUND' : 'COSI_MEMBER_NOT_REGULAR',
        `${cosi.source.url}: ${lookup.message}; refusing to extract it`,
        { member: file.path },
      );
    }
    return { file, member: lookup.entry, target: safeTarget(root, file.path) };
  });
  if (!options.overwrite) {
    for (const { file, target } of plan) {
      const existing = await lstat(target).catch(() => undefined);
      if (existing) {
        throw new CosiError(
          'COSI_EXTRACT_EXISTS',
          `${target} already exists (a ${existing.isSymbolicLink() ? 'symlink' : existing.isDirectory() ? 'directory' : 'file'}); refusing to replace it: remove it, extract into an empty directory, or pass the overwrite option`,
          { member: file.path },
        );
      }
    }
  }
  const results: ExtractedImage[] = [];
  for (const { file, member, target } of plan) {
    options.signal?.throwIfAborted();
    await confinedParent(root, target, file.path);
    const output = await createOutputFile(target, file.path);
    try {
      const size = await writeVerified(cosi, file, member, output, codec, options);
      await output.commit(options.overwrite === true);
      results.push({ imagePath: file.path, file: target, size });
    } catch (error) {
      await output.discard();
      if (options.signal?.aborted) throw abortReason(options.signal);
      throw error;
    }
  }
  return results;
}

/** Decompresses one member into `output`, checking its hash and length; returns the length. */
async function writeVerified(
  cosi: ExtractCosiInput,
  file: ImageFile,
  member: TarEntry,
  output: OutputFile,
  codec: Pick<ZstdCodec, 'decompress'>,
  options: ExtractCosiOptions,
): Promise<number> {
  const hash = createHash('sha384');
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of streamRange(
      cosi.source,
      member.dataOffset,
      member.size,
      options.signal ? { signal: options.signal } : {},
    )) {
      hash.update(chunk);
      yield chunk;
    }
  }
  let written = 0;
  const maxWindowLog = cosi.metadata.compression?.maxWindowLog;
  for await (const chunk of codec.decompress(hashed(), { maxWindowLog, signal: options.signal })) {
    if (written + chunk.length > file.uncompressedSize) {
      throw new CosiError(
        'COSI_IMAGE_SIZE_MISMATCH',
        `${file.path} decompresses to more than its uncompressedSize ${file.uncompressedSize}`,
        { member: file.path },
      );
    }
    await output.write(chunk, written, options.sparse ?? true);
    written += chunk.length;
  }
  options.signal?.throwIfAborted();
  const sha384 = hash.digest('hex');
  if (file.sha384 !== undefined && sha384 !== file.sha384.toLowerCase()) {
    throw new CosiError(
      'COSI_IMAGE_HASH_MISMATCH',
      `${file.path}: SHA-384 of the compressed image is ${sha384}, metadata says ${file.sha384}`,
      { member: file.path },
    );
  }
  if (written !== file.uncompressedSize) {
    throw new CosiError(
      'COSI_IMAGE_SIZE_MISMATCH',
      `${file.path} decompressed to ${written} bytes, metadata says ${file.uncompressedSize}`,
      { member: file.path },
    );
  }
  await output.finish(written);
  return written;
}
