import { createHash, randomUUID } from 'node:crypto';
import { constants, zstdCompressSync } from 'node:zlib';
import { ESP_TYPE_GUID, partitionTypeGuidByName } from '../gpt/partition-types.ts';
import { pseudoRandomBytes } from './fixture-cosi.ts';
import { buildGptRegion, type MemoryPartition } from './memory-gpt.ts';

/**
 * Writes a COSI the way upstream's `mkcosi build` does (facts from reference cosi-format.md §5.1,
 * §5.2; our own code), so the reader is tested against that writer's choices rather than ours:
 *
 * - Go `archive/tar` USTAR headers: mode 0000400, uid/gid/mtime zero, `ustar\0` + version `00`,
 *   empty uname/gname, devmajor/devminor `0000000\0`, checksum as six octal digits, NUL, space; no
 *   directory entries; exactly two zero blocks at the end, no padding to a 10240-byte record;
 * - members `cosi-marker` (empty), `metadata.json`, `images/primary-gpt.raw.zst` (bytes 0 to the end
 *   of the entry array, exactly), then `images/partition-<n>.raw.zst` in LBA order, `n` the position
 *   in that order;
 * - zstd with a 4 MiB window (`maxWindowLog` 22), a region for every partition, `images[]` only for
 *   partitions with a mount point, ext filesystems shrunk (image shorter than the partition);
 * - metadata as Go's `json.MarshalIndent(v, "", "  ")` of mkcosi's structs: their key order, `verity:
 *   null`, `<`, `>`, `&` escaped as `\u003c`, `\u003e`, `\u0026`, a random v4 `id`, and with
 *   `insert-template` the non-spec `hostConfigurationTemplate` key;
 * - optionally (`add-vpc`): zero padding to a MiB multiple and a 512-byte VHD footer after the tar.
 */
export interface MkcosiStyleOptions {
  /** Append what `mkcosi add-vpc` does. */
  vhdFooter?: boolean;
  /** Add `hostConfigurationTemplate` as `mkcosi insert-template` does. */
  template?: string;
}

const ESP = ESP_TYPE_GUID;
const ROOT_X86_64 = partitionTypeGuidByName('root-x86-64') ?? '';
const BIOS_BOOT = partitionTypeGuidByName('bios-boot') ?? '';
const DISK_SIZE = 96 * 1024 * 1024;

/** A Go `archive/tar` USTAR header for a regular file. */
function goTarHeader(name: string, size: number): Uint8Array {
  const block = new Uint8Array(512);
  const put = (offset: number, text: string) => block.set(new TextEncoder().encode(text), offset);
  const octal = (value: number, width: number) => `${value.toString(8).padStart(width - 1, '0')}\0`;
  put(0, name);
  put(100, octal(0o400, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(size, 12));
  put(136, octal(0, 12));
  put(148, '        ');
  put(156, '0');
  put(257, 'ustar\0');
  put(263, '00');
  put(329, octal(0, 8));
  put(337, octal(0, 8));
  let sum = 0;
  for (const byte of block) sum += byte;
  put(148, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

function goTar(members: Array<{ name: string; data: Uint8Array }>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const { name, data } of members) {
    parts.push(goTarHeader(name, data.length), data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

/** Go's `json.Marshal` escapes these for HTML safety. */
function goJson(value: unknown): string {
  return JSON.stringify(value, null, 2)
    .replace(/</gu, '\\u003c')
    .replace(/>/gu, '\\u003e')
    .replace(/&/gu, '\\u0026');
}

function vhdFooter(size: number): Uint8Array {
  const footer = Buffer.alloc(512);
  footer.write('conectix', 0, 'latin1');
  footer.writeUInt32BE(2, 8); // features
  footer.writeUInt32BE(0x00010000, 12); // version
  footer.writeBigUInt64BE(0xffffffffffffffffn, 16); // data offset: fixed disk
  footer.writeBigUInt64BE(BigInt(size), 40);
  footer.writeBigUInt64BE(BigInt(size), 48);
  footer.writeUInt32BE(2, 60); // disk type: fixed
  let sum = 0;
  for (const byte of footer) sum += byte;
  footer.writeUInt32BE(~sum >>> 0, 64);
  return footer;
}

export function buildMkcosiStyleCosi(options: MkcosiStyleOptions = {}) {
  // A BIOS boot partition first (no filesystem: a region but no images[] entry), then ESP and root.
  const partitions: MemoryPartition[] = [
    {
      typeGuid: BIOS_BOOT,
      partitionGuid: 'bbbbbbbb-0000-4000-8000-000000000001',
      firstLba: 2048,
      lastLba: 4095,
      name: 'bios',
    },
    {
      typeGuid: ESP,
      partitionGuid: 'bbbbbbbb-0000-4000-8000-000000000002',
      firstLba: 4096,
      lastLba: 69631,
      name: 'esp',
    },
    {
      typeGuid: ROOT_X86_64,
      partitionGuid: 'bbbbbbbb-0000-4000-8000-000000000003',
      firstLba: 69632,
      lastLba: 190000,
      name: 'rootfs',
    },
  ];
  const gpt = buildGptRegion({ lbaSize: 512, diskSize: DISK_SIZE, partitions });
  const raw = new Map<string, Uint8Array>([
    ['images/primary-gpt.raw.zst', gpt],
    ['images/partition-1.raw.zst', pseudoRandomBytes(1024 * 1024, 11)],
    ['images/partition-2.raw.zst', pseudoRandomBytes(2 * 1024 * 1024, 12)],
    // Both filesystems are shorter than their partitions (32 MiB and 59 MiB): ext4 shrunk by
    // resize2fs -M, and mkcosi extracts only what a filesystem covers.
    ['images/partition-3.raw.zst', pseudoRandomBytes(3 * 1024 * 1024, 13)],
  ]);
  const compressed = new Map(
    [...raw].map(([path, data]) => [
      path,
      zstdCompressSync(data, {
        params: { [constants.ZSTD_c_compressionLevel]: 3, [constants.ZSTD_c_windowLog]: 22 },
      }),
    ]),
  );
  const file = (path: string) => ({
    path,
    compressedSize: compressed.get(path)!.length,
    uncompressedSize: raw.get(path)!.length,
    sha384: createHash('sha384').update(compressed.get(path)!).digest('hex'),
  });
  const metadata: Record<string, unknown> = {
    version: '1.2',
    osArch: 'x86_64',
    osRelease:
      'NAME="Example Linux"\nVERSION_ID="4.1"\nID=examplelinux\nHOME_URL="https://example.invalid/?distro=example&release=4.1"\nSUPPORT_URL="<none>"\n',
    images: [
      {
        image: file('images/partition-2.raw.zst'),
        mountPoint: '/boot/efi',
        fsType: 'vfat',
        fsUuid: '0A1B-2C3D',
        partType: ESP,
        verity: null,
      },
      {
        image: file('images/partition-3.raw.zst'),
        mountPoint: '/',
        fsType: 'ext4',
        fsUuid: '1e2d3c4b-5a69-4788-9aab-bccddeeff001',
        partType: ROOT_X86_64,
        verity: null,
      },
    ],
    disk: {
      size: DISK_SIZE,
      type: 'gpt',
      lbaSize: 512,
      gptRegions: [
        { image: file('images/primary-gpt.raw.zst'), type: 'primary-gpt' },
        ...[1, 2, 3].map((n) => ({
          image: file(`images/partition-${n}.raw.zst`),
          type: 'partition',
          number: n,
        })),
      ],
    },
    osPackages: [
      { name: 'kernel', version: '6.12.9', release: '1.el4', arch: 'x86_64' },
      { name: 'ca-certificates', version: '2025.1', release: '1.el4', arch: 'noarch' },
    ],
    bootloader: { type: 'grub' },
    id: randomUUID(),
    compression: { maxWindowLog: 22 },
    ...(options.template === undefined ? {} : { hostConfigurationTemplate: options.template }),
  };
  const metadataText = goJson(metadata);
  let bytes = goTar([
    { name: 'cosi-marker', data: new Uint8Array(0) },
    { name: 'metadata.json', data: new TextEncoder().encode(metadataText) },
    ...[...compressed].map(([name, data]) => ({ name, data })),
  ]);
  if (options.vhdFooter) {
    const padded = Math.ceil(bytes.length / (1024 * 1024)) * 1024 * 1024;
    bytes = Buffer.concat([bytes, new Uint8Array(padded - bytes.length), vhdFooter(padded)]);
  }
  return { bytes, metadata, metadataText, raw };
}
