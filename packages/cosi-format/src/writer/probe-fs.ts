import type { FileHandle } from 'node:fs/promises';
/**
 * Filesystem detection from superblocks, in TypeScript so building needs no root and no blkid.
 * Names are the kernel's (COSI 1.2 §2.6: `fsType` uses the kernel name).
 */
export type FsType = 'ext2' | 'ext3' | 'ext4' | 'vfat' | 'squashfs' | 'xfs' | 'btrfs';

export interface FsProbe {
  fsType: FsType;
  /** blkid-style UUID: hyphenated for ext/xfs/btrfs, `XXXX-XXXX` for vfat; undefined for squashfs. */
  uuid: string | undefined;
  label: string | undefined;
  /** Bytes the filesystem says it spans, when the superblock records it. */
  size: number | undefined;
  blockSize: number | undefined;
  /** ext only: last write time (s_wtime), used to pin e2fsprogs timestamps. */
  writeTime?: number;
}

/** 64 KiB + 4 KiB covers every superblock probed here (btrfs sits at 64 KiB). */
const PROBE_LENGTH = 0x11000;

function ascii(bytes: Uint8Array): string | undefined {
  const text = new TextDecoder('latin1').decode(bytes).replace(/\0.*$/su, '').trim();
  return text === '' ? undefined : text;
}

function probeExt(b: Uint8Array, v: DataView): FsProbe | undefined {
  const sb = 1024;
  if (b.length < sb + 1024 || v.getUint16(sb + 0x38, true) !== 0xef53) return undefined;
  const compat = v.getUint32(sb + 0x5c, true);
  const incompat = v.getUint32(sb + 0x60, true);
  const roCompat = v.getUint32(sb + 0x64, true);
  // ext4-only features: extents, 64bit, flex_bg (incompat); huge_file, gdt_csum, dir_nlink,
  // extra_isize, metadata_csum (ro_compat). A journal without them is ext3; neither is ext2.
  const ext4 =
    (incompat & (0x40 | 0x80 | 0x200)) !== 0 || (roCompat & (0x8 | 0x10 | 0x20 | 0x40 | 0x400)) !== 0;
  const fsType: FsType = ext4 ? 'ext4' : (compat & 0x4) !== 0 ? 'ext3' : 'ext2';
  const blockSize = 1024 << v.getUint32(sb + 0x18, true);
  let blocks = v.getUint32(sb + 0x04, true);
  if ((incompat & 0x80) !== 0) blocks += v.getUint32(sb + 0x150, true) * 2 ** 32;
  return {
    fsType,
    uuid: guidFromBytesBigEndian(b.subarray(sb + 0x68, sb + 0x78)),
    label: ascii(b.subarray(sb + 0x78, sb + 0x88)),
    size: blocks * blockSize,
    blockSize,
    writeTime: v.getUint32(sb + 0x30, true) || v.getUint32(sb + 0x108, true),
  };
}

function probeVfat(b: Uint8Array, v: DataView): FsProbe | undefined {
  if (b.length < 512 || b[510] !== 0x55 || b[511] !== 0xaa || (b[0] !== 0xeb && b[0] !== 0xe9))
    return undefined;
  const bytesPerSector = v.getUint16(11, true);
  if (![512, 1024, 2048, 4096].includes(bytesPerSector) || b[13] === 0 || b[16] === 0) return undefined;
  const fat32 = v.getUint16(22, true) === 0;
  const ebpb = fat32 ? 64 : 36;
  if (b[ebpb + 2] !== 0x29) return undefined;
  const volumeId = v
    .getUint32(ebpb + 3, true)
    .toString(16)
    .toUpperCase()
    .padStart(8, '0');
  const total = v.getUint16(19, true) || v.getUint32(32, true);
  const label = ascii(b.subarray(ebpb + 7, ebpb + 18));
  return {
    fsType: 'vfat',
    uuid: `${volumeId.slice(0, 4)}-${volumeId.slice(4)}`,
    label: label === 'NO NAME' ? undefined : label,
    size: total * bytesPerSector,
    blockSize: bytesPerSector * b[13]!,
  };
}

function guidFromBytesBigEndian(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function probeFilesystemBytes(b: Uint8Array): FsProbe | undefined {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const magic = (at: number, text: string) =>
    b.length >= at + text.length &&
    new TextDecoder('latin1').decode(b.subarray(at, at + text.length)) === text;
  if (magic(0, 'hsqs')) {
    return {
      fsType: 'squashfs',
      uuid: undefined,
      label: undefined,
      size: Number(v.getBigUint64(40, true)),
      blockSize: v.getUint32(12, true),
    };
  }
  if (magic(0, 'XFSB')) {
    const blockSize = v.getUint32(4, true);
    return {
      fsType: 'xfs',
      uuid: guidFromBytesBigEndian(b.subarray(32, 48)),
      label: ascii(b.subarray(108, 120)),
      size: Number(v.getBigUint64(8, true)) * blockSize,
      blockSize,
    };
  }
  if (magic(0x10040, '_BHRfS_M')) {
    return {
      fsType: 'btrfs',
      uuid: guidFromBytesBigEndian(b.subarray(0x10020, 0x10030)),
      label: ascii(b.subarray(0x1012b, 0x1022b)),
      size: Number(v.getBigUint64(0x10070, true)),
      blockSize: v.getUint32(0x10090, true),
    };
  }
  return probeExt(b, v) ?? probeVfat(b, v);
}

/** True when the range starts with a dm-verity hash superblock (`veritysetup format`). */
export function isVerityHashBytes(b: Uint8Array): boolean {
  return new TextDecoder('latin1').decode(b.subarray(0, 8)) === 'verity\0\0';
}

export async function readProbeBytes(
  handle: FileHandle,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const buffer = Buffer.alloc(Math.min(PROBE_LENGTH, length));
  await handle.read(buffer, 0, buffer.length, offset);
  return buffer;
}
