import { createHash } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CosiError } from '../errors.ts';
import type { CosiMetadata } from '../metadata/schema.ts';
import type { BootloaderInfo } from './bootloader.ts';
import { createNodeZstdCodec, type FileRange, type ZstdCodec, type ZstdCompressOptions } from './codec.ts';
import { type CompressedImage, compressImage } from './compress-image.ts';
import { writeCosiTar } from './cosi-tar.ts';
import { inspectOs } from './inspect-os.ts';
import { loadNativeCodec } from './native-codec.ts';
import type { PackageInfo } from './packages.ts';
import { type ScannedPartition, scanDisk } from './scan-disk.ts';
import { shrinkExtFilesystem } from './shrink.ts';
import { sparseCopy } from './sparse-copy.ts';

export interface VerityDeclaration {
  /** GPT partition number of the verity-protected filesystem. */
  dataPartition: number;
  /** GPT partition number holding the hash tree (its image becomes `verity.image`). */
  hashPartition: number;
  roothash: string;
}

export interface CompressionSettings {
  /** zstd level 1..22 (default 9, as Image Customizer). */
  level?: number;
  /** log2 window (default 23: an 8 MiB window keeps decoder memory small). Recorded as `maxWindowLog`. */
  windowLog?: number;
  /** zstd long-distance matching (default false). */
  longDistanceMatching?: boolean;
  /** Write each image in the zstd seekable format with frames of this many bytes. */
  seekableFrameSize?: number;
}

export interface BuildCosiOptions {
  /** Raw GPT disk image (512- or 4096-byte LBAs). */
  input: string;
  /** COSI file to write; replaced atomically. */
  output: string;
  compression?: CompressionSettings;
  /** Compression back end; default `createNodeZstdCodec()`. */
  codec?: ZstdCodec;
  /** Shrink ext2/3/4 filesystems that cover their partition (default true). */
  shrink?: boolean;
  osArch?: string;
  osRelease?: string;
  osPackages?: PackageInfo[];
  bootloader?: BootloaderInfo;
  mountPoints?: Record<number, string>;
  verity?: VerityDeclaration | VerityDeclaration[];
  /** Metadata `id`; default derived from the image hashes so builds are reproducible. */
  id?: string;
  /** Where scratch files go (default: beside the output). Needs room for the compressed images. */
  scratchDir?: string;
  signal?: AbortSignal;
}

export interface BuildCosiResult {
  metadata: CosiMetadata;
  /** SHA-384 of the metadata.json member: what Host Configuration `image.sha384` expects. */
  metadataSha384: string;
  /** Size of the COSI file in bytes. */
  size: number;
}

/** Stage events (`{ stage, partition?, ... }`) for CLIs to show progress; libraries never print. */
export const buildChannel = diagnostics.channel('trident:cosi:build');

export const DEFAULT_COMPRESSION = { level: 9, windowLog: 23, longDistanceMatching: false } as const;

/** An RFC 9562 version-8 UUID from a digest: stable for the same content. */
function uuidFromDigest(hex: string): string {
  const b = Buffer.from(hex.slice(0, 32), 'hex');
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function imageFile(image: CompressedImage) {
  return {
    path: image.path,
    compressedSize: image.compressedSize,
    uncompressedSize: image.uncompressedSize,
    sha384: image.sha384,
  };
}

/** COSI 1.2 §2.6: shrink only when the filesystem starts at the partition start (probed there) and
 *  its size equals the partition size or differs by less than one filesystem block. */
function coversPartition(p: ScannedPartition): boolean {
  const fs = p.fs;
  if (fs?.size === undefined || fs.blockSize === undefined) return false;
  return Math.abs(p.size - fs.size) < fs.blockSize;
}

/**
 * Builds a COSI 1.2 file from a raw GPT disk image: the primary GPT verbatim, one zstd image per
 * partition (ext filesystems shrunk), and metadata read from the image itself.
 */
export async function buildCosi(options: BuildCosiOptions): Promise<BuildCosiResult> {
  const codec = options.codec ?? (await loadNativeCodec()) ?? createNodeZstdCodec();
  const compress: ZstdCompressOptions = {
    level: options.compression?.level ?? DEFAULT_COMPRESSION.level,
    windowLog: options.compression?.windowLog ?? DEFAULT_COMPRESSION.windowLog,
    longDistanceMatching:
      options.compression?.longDistanceMatching ?? DEFAULT_COMPRESSION.longDistanceMatching,
    ...(options.compression?.seekableFrameSize === undefined
      ? {}
      : { seekableFrameSize: options.compression.seekableFrameSize }),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  // Trident fails the whole parse on any other osArch (reference §2.1).
  if (options.osArch !== undefined && !/^(x86_64|amd64|x64|arm64|aarch64)$/iu.test(options.osArch)) {
    throw new CosiError(
      'COSI_BUILD_INPUT',
      `osArch "${options.osArch}" is not one of x86_64, amd64, x64, arm64, aarch64`,
    );
  }
  const verity =
    options.verity === undefined ? [] : Array.isArray(options.verity) ? options.verity : [options.verity];

  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(options.input, 'r');
  } catch (cause) {
    throw new CosiError(
      'COSI_BUILD_INPUT',
      `cannot open disk image ${options.input}: ${(cause as Error).message}`,
      { cause },
    );
  }
  const scratch = await mkdtemp(join(options.scratchDir ?? dirname(options.output), '.cosi-build-'));
  try {
    const disk = await scanDisk(handle, options.input);
    const byNumber = new Map(disk.partitions.map((p) => [p.gpt.number, p]));
    for (const v of verity) {
      for (const n of [v.dataPartition, v.hashPartition]) {
        if (!byNumber.has(n))
          throw new CosiError('COSI_BUILD_INPUT', `verity names partition ${n}, which is not in the GPT`);
      }
    }
    buildChannel.publish({ stage: 'scanned', partitions: disk.partitions.length, lbaSize: disk.gpt.lbaSize });
    const os = await inspectOs(options.input, disk, scratch, {
      ...(options.osArch === undefined ? {} : { osArch: options.osArch }),
      ...(options.osRelease === undefined ? {} : { osRelease: options.osRelease }),
      ...(options.osPackages === undefined ? {} : { osPackages: options.osPackages }),
      ...(options.bootloader === undefined ? {} : { bootloader: options.bootloader }),
      ...(options.mountPoints === undefined ? {} : { mountPoints: options.mountPoints }),
    });

    // COSI 1.2 §2.6: the primary-GPT image is bytes 0 .. end of the entry array, verbatim.
    const gptImage = await compressImage(
      codec,
      { path: options.input, offset: 0, length: disk.gpt.regionLength },
      'images/primary-gpt.raw.zst',
      join(scratch, 'primary-gpt.zst'),
      compress,
    );
    const images = new Map<number, CompressedImage>();
    const verityPartitions = new Set(verity.flatMap((v) => [v.dataPartition, v.hashPartition]));
    for (const p of disk.partitions) {
      options.signal?.throwIfAborted();
      const n = p.gpt.number;
      let range: FileRange = { path: options.input, offset: p.offset, length: p.size };
      const ext = p.fs?.fsType === 'ext2' || p.fs?.fsType === 'ext3' || p.fs?.fsType === 'ext4';
      // Verity data must stay byte-identical to what the hash tree covers.
      if (
        (options.shrink ?? true) &&
        ext &&
        !verityPartitions.has(n) &&
        !p.verityHash &&
        coversPartition(p)
      ) {
        const copy = join(scratch, `partition-${n}.raw`);
        await sparseCopy(handle, p.offset, p.size, copy, options.signal);
        const shrunk = await shrinkExtFilesystem(copy, p.fs?.writeTime ?? 1, options.signal);
        buildChannel.publish({ stage: 'shrunk', partition: n, from: p.size, to: shrunk?.size });
        if (shrunk !== undefined && shrunk.size < p.size)
          range = { path: copy, offset: 0, length: shrunk.size };
        else await rm(copy, { force: true });
      }
      const image = await compressImage(
        codec,
        range,
        `images/partition-${n}.raw.zst`,
        join(scratch, `partition-${n}.zst`),
        compress,
      );
      buildChannel.publish({
        stage: 'compressed',
        partition: n,
        uncompressed: image.uncompressedSize,
        compressed: image.compressedSize,
      });
      if (range.path !== options.input) await rm(range.path, { force: true });
      images.set(n, image);
    }

    const hashPartitions = new Set(verity.map((v) => v.hashPartition));
    const filesystems: CosiMetadata['images'] = [];
    for (const p of disk.partitions) {
      const mountPoint = os.mountPoints.get(p.gpt.number);
      if (p.fs === undefined || mountPoint === undefined || hashPartitions.has(p.gpt.number)) continue;
      const v = verity.find((d) => d.dataPartition === p.gpt.number);
      filesystems.push({
        image: imageFile(images.get(p.gpt.number)!),
        mountPoint,
        fsType: p.fs.fsType,
        // squashfs has no UUID; the partition GUID keeps fsUuid present and unique (§2.6).
        fsUuid: p.fs.uuid ?? p.gpt.partitionGuid,
        partType: p.gpt.typeGuid,
        ...(v ? { verity: { image: imageFile(images.get(v.hashPartition)!), roothash: v.roothash } } : {}),
      });
    }
    const id =
      options.id ??
      uuidFromDigest(
        createHash('sha384')
          .update([gptImage, ...images.values()].map((i) => i.sha384).join('\n'))
          .digest('hex'),
      );
    const metadata: CosiMetadata = {
      version: '1.2',
      osArch: os.osArch,
      osRelease: os.osRelease,
      id,
      images: filesystems,
      disk: {
        size: disk.size,
        type: 'gpt',
        lbaSize: disk.gpt.lbaSize,
        gptRegions: [
          { image: imageFile(gptImage), type: 'primary-gpt' },
          ...disk.partitions.map((p) => ({
            image: imageFile(images.get(p.gpt.number)!),
            type: 'partition',
            number: p.gpt.number,
          })),
        ],
      },
      osPackages: os.osPackages.map((p) => ({ ...p })),
      bootloader:
        os.bootloader.type === 'grub'
          ? { type: 'grub' }
          : {
              type: 'systemd-boot',
              systemdBoot: { entries: os.bootloader.systemdBoot.entries.map((e) => ({ ...e })) },
            },
      compression: { maxWindowLog: compress.windowLog },
    };
    const json = new TextEncoder().encode(JSON.stringify(metadata, null, 2));
    // COSI 1.2 §1.1: marker, metadata, primary GPT, then regions in physical order.
    const size = await writeCosiTar(options.output, [
      { name: 'cosi-marker', data: new Uint8Array(0) },
      { name: 'metadata.json', data: json },
      { name: gptImage.path, data: { file: gptImage.file, size: gptImage.compressedSize } },
      ...disk.partitions.map((p) => {
        const image = images.get(p.gpt.number)!;
        return { name: image.path, data: { file: image.file, size: image.compressedSize } };
      }),
    ]);
    buildChannel.publish({ stage: 'written', size });
    return { metadata, metadataSha384: createHash('sha384').update(json).digest('hex'), size };
  } finally {
    await handle.close();
    await rm(scratch, { recursive: true, force: true });
  }
}
