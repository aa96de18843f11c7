import { createHash } from 'node:crypto';
import { constants, zstdCompressSync } from 'node:zlib';
import { ESP_TYPE_GUID } from '../gpt/partition-types.ts';
import { buildGptRegion, type MemoryPartition } from './memory-gpt.ts';
import { buildTar, type MemoryMember } from './memory-tar.ts';

const ROOT_X86_64 = '4f68bce3-e8cd-4db1-96e7-fbcaf984b709';

/** Deterministic pseudo-random bytes, so fixtures are reproducible. */
export function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

export function sha384Hex(data: Uint8Array): string {
  return createHash('sha384').update(data).digest('hex');
}

export function zstd(data: Uint8Array, windowLog = 20): Uint8Array {
  return zstdCompressSync(data, {
    params: { [constants.ZSTD_c_compressionLevel]: 3, [constants.ZSTD_c_windowLog]: windowLog },
  });
}

export interface FixtureOptions {
  /** Edits the metadata object before it is serialised. */
  mutate?: (metadata: Record<string, any>) => void;
  /** Replaces the serialised metadata.json text entirely. */
  metadataText?: string;
  /** Edits the member list (order, names, extra members) before the tar is built. */
  members?: (members: MemoryMember[]) => MemoryMember[];
  /** Edits the compressed bytes of an image before hashing is recorded ("after" = corrupt after hashing). */
  corruptAfterHash?: string;
  partitions?: MemoryPartition[];
  /** Header fields of the primary GPT a test wants wrong (see buildGptRegion). */
  gptHeader?: { entryCount?: number; firstUsableLba?: number; lastUsableLba?: number };
  endBlocks?: number;
  /** Replaces an image's uncompressed content; sizes and hashes in the metadata follow. */
  rawOverride?: Record<string, Uint8Array>;
  /** Replaces an image's compressed bytes (e.g. with non-zstd data); sizes and hashes follow. */
  compressedOverride?: Record<string, Uint8Array>;
}

export interface Fixture {
  bytes: Uint8Array;
  metadata: Record<string, any>;
  /** Uncompressed image contents by image path. */
  raw: Map<string, Uint8Array>;
  gptRegion: Uint8Array;
}

const DISK_SIZE = 64 * 1024 * 1024;

/**
 * A small but complete COSI 1.2 in memory: GPT with an ESP and a root partition, an image for
 * each, metadata that passes both profiles. Tests break one thing at a time.
 */
export function buildFixtureCosi(options: FixtureOptions = {}): Fixture {
  const partitions: MemoryPartition[] = options.partitions ?? [
    {
      typeGuid: ESP_TYPE_GUID,
      partitionGuid: 'aaaaaaaa-0000-4000-8000-000000000001',
      firstLba: 2048,
      lastLba: 2048 + 16383,
      name: 'esp',
    },
    {
      typeGuid: ROOT_X86_64,
      partitionGuid: 'aaaaaaaa-0000-4000-8000-000000000002',
      firstLba: 18432,
      lastLba: 18432 + 65535,
      name: 'root',
    },
  ];
  const gptRegion = buildGptRegion({ lbaSize: 512, diskSize: DISK_SIZE, partitions, ...options.gptHeader });
  const raw = new Map<string, Uint8Array>([
    ['images/gpt.raw.zst', gptRegion],
    ['images/esp.raw.zst', pseudoRandomBytes(96 * 1024, 7)],
    ['images/root.raw.zst', pseudoRandomBytes(200 * 1024, 9)],
  ]);
  for (const [path, data] of Object.entries(options.rawOverride ?? {})) raw.set(path, data);
  const compressed = new Map([...raw].map(([path, data]) => [path, zstd(data)]));
  for (const [path, data] of Object.entries(options.compressedOverride ?? {})) compressed.set(path, data);
  const imageFile = (path: string): Record<string, unknown> => ({
    path,
    compressedSize: compressed.get(path)!.length,
    uncompressedSize: raw.get(path)!.length,
    sha384: sha384Hex(compressed.get(path)!),
  });
  const metadata: Record<string, any> = {
    version: '1.2',
    osArch: 'x86_64',
    osRelease: 'NAME="Demo Linux"\nID=demo\nVERSION_ID=1.0\n',
    images: [
      {
        image: imageFile('images/esp.raw.zst'),
        mountPoint: '/boot/efi',
        fsType: 'vfat',
        fsUuid: 'C3D4-250D',
        partType: ESP_TYPE_GUID,
        verity: null,
      },
      {
        image: imageFile('images/root.raw.zst'),
        mountPoint: '/',
        fsType: 'ext4',
        fsUuid: '0b8c6e9a-2c1f-4d52-9c3e-6f1a2b3c4d5e',
        partType: ROOT_X86_64,
        verity: null,
      },
    ],
    osPackages: [{ name: 'bash', version: '5.2.15', release: '2', arch: 'x86_64' }],
    bootloader: { type: 'grub', systemdBoot: null },
    disk: {
      size: DISK_SIZE,
      lbaSize: 512,
      type: 'gpt',
      gptRegions: [
        { image: imageFile('images/gpt.raw.zst'), type: 'primary-gpt' },
        { image: imageFile('images/esp.raw.zst'), type: 'partition', number: 1 },
        { image: imageFile('images/root.raw.zst'), type: 'partition', number: 2 },
      ],
    },
    compression: { maxWindowLog: 27 },
    id: '5a0b6f31-7c2d-4e8f-9a1b-2c3d4e5f6a7b',
  };
  options.mutate?.(metadata);
  const text = options.metadataText ?? JSON.stringify(metadata, null, 2);
  if (options.corruptAfterHash) {
    const bytes = compressed.get(options.corruptAfterHash)!;
    const copy = Uint8Array.from(bytes);
    copy[copy.length - 5]! ^= 0xff;
    compressed.set(options.corruptAfterHash, copy);
  }
  let members: MemoryMember[] = [
    { name: 'cosi-marker' },
    { name: 'metadata.json', data: text },
    ...[...compressed].map(([name, data]) => ({ name, data })),
  ];
  if (options.members) members = options.members(members);
  const bytes = buildTar(members, options.endBlocks === undefined ? {} : { endBlocks: options.endBlocks });
  return { bytes, metadata, raw, gptRegion };
}
