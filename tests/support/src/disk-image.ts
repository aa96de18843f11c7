import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';

/**
 * Builds small, real GPT disk images without root: an ESP (mkfs.vfat + mtools) and an ext4 root
 * (mkfs.ext4 -d) written at their partition offsets, optionally a dm-verity hash partition
 * (veritysetup format on files) and a generic data partition mounted through fstab. GUIDs, UUIDs,
 * salts and timestamps are fixed so tests can assert on them.
 */
const run = promisify(execFile);

export const ESP_TYPE = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
export const ROOT_X86_64_TYPE = '4f68bce3-e8cd-4db1-96e7-fbcaf984b709';
export const ROOT_X86_64_VERITY_TYPE = '2c7357ed-ebd2-46d9-aec1-23d437ec2bf5';
export const LINUX_GENERIC_TYPE = '0fc63daf-8483-4772-8e79-3d69d8477de4';

export const DEMO_IDS = {
  diskGuid: '5a1d0000-0000-4000-8000-000000000000',
  espPartGuid: '5a1d0001-0000-4000-8000-000000000001',
  rootPartGuid: '5a1d0002-0000-4000-8000-000000000002',
  hashPartGuid: '5a1d0003-0000-4000-8000-000000000003',
  dataPartGuid: '5a1d0004-0000-4000-8000-000000000004',
  espVolumeId: '1234ABCD',
  espFsUuid: '1234-ABCD',
  rootFsUuid: '2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901',
  dataFsUuid: '3c4d5e6f-7081-4293-a4b5-c6d7e8f90a1b',
  veritySalt: '5a175a175a175a175a175a175a175a175a175a175a175a175a175a175a175a17',
  verityUuid: '4d5e6f70-8192-43a4-b5c6-d7e8f90a1b2c',
} as const;

/** Fixed mtime for staged files and e2fsprogs' clock, so fixture bytes repeat. */
const EPOCH = 1_700_000_000;

export const DEMO_PACKAGES = [
  { name: 'base-files', version: '12.4', release: 'deb12u5', arch: 'amd64' },
  { name: 'bash', version: '5.2.15', release: '2+b2', arch: 'amd64' },
  { name: 'tzdata', version: '2024a', release: '0+deb12u1', arch: 'all' },
  { name: 'libc6', version: '2.36', release: '9+deb12u4', arch: 'amd64' },
] as const;

export interface DemoDiskOptions {
  path: string;
  sizeMiB: number;
  espMiB: number;
  rootMiB: number;
  /** Logical block size: 512 (sgdisk) or 4096 (written here; sgdisk cannot make 4Kn tables on files). */
  lbaSize?: 512 | 4096;
  /** Make the root read-only data for dm-verity and add a hash partition after it. */
  withVerity?: boolean;
  /** Size of a generic Linux data partition (ext4, mounted through fstab UUID=); 0 = none. */
  dataMiB?: number;
  /** Where fstab mounts the data partition (default /srv/data; e.g. /boot beside a verity root). */
  dataMountPoint?: string;
  /** Extra files for the root filesystem (path → content); they override the defaults. */
  files?: Record<string, string | Uint8Array>;
  /** Extra files for the ESP (path → content). */
  espFiles?: Record<string, string | Uint8Array>;
  /** Random-content bytes written to /opt/payload.bin in the root (default 1 MiB). */
  payloadBytes?: number;
}

export interface DemoPartition {
  number: number;
  name: string;
  typeGuid: string;
  partitionGuid: string;
  offset: number;
  size: number;
  fsType?: 'vfat' | 'ext4';
  fsUuid?: string;
}

export interface DemoDiskImage {
  path: string;
  size: number;
  lbaSize: 512 | 4096;
  diskGuid: string;
  partitions: DemoPartition[];
  esp: DemoPartition;
  root: DemoPartition;
  data?: DemoPartition;
  verity?: { dataPartition: number; hashPartition: number; roothash: string };
  osRelease: string;
}

const MiB = 1024 * 1024;

/** xorshift32: deterministic "random" content that zstd cannot shrink much. */
function pseudoRandom(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A 64-byte ELF64 header for x86_64 (e_machine 62): enough for architecture detection. */
function fakeElf(): Uint8Array {
  const b = new Uint8Array(64);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  new DataView(b.buffer).setUint16(16, 2, true);
  new DataView(b.buffer).setUint16(18, 62, true);
  return b;
}

function dpkgStatus(): string {
  return DEMO_PACKAGES.map(
    (p) =>
      `Package: ${p.name}\nStatus: install ok installed\nPriority: required\nArchitecture: ${p.arch}\nVersion: ${p.version}-${p.release}\nDescription: demo package\n ${p.name} for tests\n`,
  )
    .concat('Package: removed-pkg\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0-1\n')
    .join('\n');
}

async function stage(dir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const target = join(dir, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
    await utimes(target, EPOCH, EPOCH);
  }
}

function guidBytes(guid: string): Uint8Array {
  const hex = guid.replace(/-/gu, '');
  const b = Buffer.from(hex, 'hex');
  // GPT stores the first three fields little-endian.
  return Uint8Array.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8)]);
}

interface Layout {
  number: number;
  name: string;
  typeGuid: string;
  partitionGuid: string;
  firstLba: number;
  lastLba: number;
}

/** A UEFI GPT (protective MBR, primary and backup headers, 128 x 128-byte entries) for any LBA size. */
export function encodeGpt(
  lba: number,
  totalLbas: number,
  diskGuid: string,
  parts: readonly Layout[],
): { primary: Uint8Array; backup: Uint8Array; backupOffset: number } {
  const entryLbas = (128 * 128) / lba;
  const entries = new Uint8Array(128 * 128);
  const ev = new DataView(entries.buffer);
  for (const p of parts) {
    const at = (p.number - 1) * 128;
    entries.set(guidBytes(p.typeGuid), at);
    entries.set(guidBytes(p.partitionGuid), at + 16);
    ev.setBigUint64(at + 32, BigInt(p.firstLba), true);
    ev.setBigUint64(at + 40, BigInt(p.lastLba), true);
    entries.set(Buffer.from(p.name, 'utf16le'), at + 56);
  }
  const header = (current: number, backup: number, entriesLba: number): Uint8Array => {
    const h = new Uint8Array(lba);
    const v = new DataView(h.buffer);
    h.set(Buffer.from('EFI PART', 'latin1'));
    v.setUint32(8, 0x00010000, true);
    v.setUint32(12, 92, true);
    v.setBigUint64(24, BigInt(current), true);
    v.setBigUint64(32, BigInt(backup), true);
    v.setBigUint64(40, BigInt(2 + entryLbas), true);
    v.setBigUint64(48, BigInt(totalLbas - 2 - entryLbas), true);
    h.set(guidBytes(diskGuid), 56);
    v.setBigUint64(72, BigInt(entriesLba), true);
    v.setUint32(80, 128, true);
    v.setUint32(84, 128, true);
    v.setUint32(88, crc32(entries), true);
    v.setUint32(16, crc32(h.subarray(0, 92)), true);
    return h;
  };
  const mbr = new Uint8Array(lba);
  mbr.set([0x00, 0x00, 0x02, 0x00, 0xee, 0xff, 0xff, 0xff], 446);
  new DataView(mbr.buffer).setUint32(446 + 8, 1, true);
  new DataView(mbr.buffer).setUint32(446 + 12, Math.min(totalLbas - 1, 0xffffffff), true);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  const last = totalLbas - 1;
  const primary = Buffer.concat([mbr, header(1, last, 2), entries]);
  const backup = Buffer.concat([entries, header(last, 1, last - entryLbas)]);
  return { primary, backup, backupOffset: (last - entryLbas) * lba };
}

async function copyInto(disk: string, file: string, offset: number): Promise<void> {
  const src = await open(file, 'r');
  const dst = await open(disk, 'r+');
  try {
    const buffer = Buffer.allocUnsafe(MiB);
    const zero = Buffer.alloc(MiB);
    for (let at = 0; ; at += MiB) {
      const { bytesRead } = await src.read(buffer, 0, MiB, at);
      if (bytesRead === 0) break;
      // Skip zero chunks: the disk file is sparse and already zero there.
      if (!buffer.subarray(0, bytesRead).equals(zero.subarray(0, bytesRead)))
        await dst.write(buffer, 0, bytesRead, offset + at);
    }
  } finally {
    await src.close();
    await dst.close();
  }
}

export async function createDemoDiskImage(options: DemoDiskOptions): Promise<DemoDiskImage> {
  const lbaSize = options.lbaSize ?? 512;
  const work = await mkdtemp(join(dirname(options.path), '.demo-disk-'));
  const env = {
    ...process.env,
    E2FSPROGS_FAKE_TIME: String(EPOCH),
    SOURCE_DATE_EPOCH: String(EPOCH),
    MTOOLS_SKIP_CHECK: '1',
  };
  try {
    const hashMiB = options.withVerity ? Math.ceil(options.rootMiB / 64) + 1 : 0;
    const dataMiB = options.dataMiB ?? 0;
    const lbasPerMiB = MiB / lbaSize;
    const layout: Layout[] = [];
    let next = lbasPerMiB; // first partition at 1 MiB
    const add = (name: string, typeGuid: string, partitionGuid: string, mib: number) => {
      layout.push({
        number: layout.length + 1,
        name,
        typeGuid,
        partitionGuid,
        firstLba: next,
        lastLba: next + mib * lbasPerMiB - 1,
      });
      next += mib * lbasPerMiB;
    };
    add('esp', ESP_TYPE, DEMO_IDS.espPartGuid, options.espMiB);
    add('root', ROOT_X86_64_TYPE, DEMO_IDS.rootPartGuid, options.rootMiB);
    if (hashMiB) add('root-hash', ROOT_X86_64_VERITY_TYPE, DEMO_IDS.hashPartGuid, hashMiB);
    if (dataMiB) add('data', LINUX_GENERIC_TYPE, DEMO_IDS.dataPartGuid, dataMiB);
    if ((next + 34) * lbaSize > options.sizeMiB * MiB)
      throw new Error(`partitions need more than ${options.sizeMiB} MiB`);

    await rm(options.path, { force: true });
    await writeFile(options.path, '');
    await truncate(options.path, options.sizeMiB * MiB);
    const totalLbas = (options.sizeMiB * MiB) / lbaSize;
    if (lbaSize === 512) {
      const args = ['-o', '-U', DEMO_IDS.diskGuid];
      for (const p of layout) {
        args.push(
          '-n',
          `${p.number}:${p.firstLba}:${p.lastLba}`,
          '-t',
          `${p.number}:${p.typeGuid}`,
          '-u',
          `${p.number}:${p.partitionGuid}`,
          '-c',
          `${p.number}:${p.name}`,
        );
      }
      await run('sgdisk', [...args, options.path]);
    } else {
      const gpt = encodeGpt(lbaSize, totalLbas, DEMO_IDS.diskGuid, layout);
      const handle = await open(options.path, 'r+');
      await handle.write(gpt.primary, 0, gpt.primary.length, 0);
      await handle.write(gpt.backup, 0, gpt.backup.length, gpt.backupOffset);
      await handle.close();
    }

    // ESP: FAT with a fixed volume id, a dummy grub EFI binary and grub.cfg.
    const esp = join(work, 'esp.img');
    await run(
      'mkfs.vfat',
      ['-C', '-i', DEMO_IDS.espVolumeId, '--invariant', '-n', 'ESP', esp, String(options.espMiB * 1024)],
      { env },
    );
    const espStage = join(work, 'esp');
    const espFiles = {
      'EFI/BOOT/grubx64.efi': 'MZ demo grub',
      'EFI/BOOT/grub.cfg': 'search --fs-uuid --set=root\n',
      ...options.espFiles,
    };
    await stage(espStage, espFiles);
    for (const dir of new Set(
      Object.keys(espFiles).flatMap((f) =>
        f
          .split('/')
          .slice(0, -1)
          .map((_, i, a) => a.slice(0, i + 1).join('/')),
      ),
    )) {
      await run('mmd', ['-D', 's', '-i', esp, `::/${dir}`], { env }).catch(() => undefined);
    }
    for (const file of Object.keys(espFiles))
      await run('mcopy', ['-m', '-o', '-i', esp, join(espStage, file), `::/${file}`], { env });

    const osRelease =
      'NAME="Demo Linux"\nID=demo\nVERSION_ID="1.0"\nPRETTY_NAME="Demo Linux 1.0 <test & co>"\n';
    const fstab = [
      `UUID=${DEMO_IDS.rootFsUuid} / ext4 ${options.withVerity ? 'ro' : 'defaults'} 0 1`,
      `UUID=${DEMO_IDS.espFsUuid} /boot/efi vfat umask=0077 0 2`,
      ...(dataMiB
        ? [`UUID=${DEMO_IDS.dataFsUuid} ${options.dataMountPoint ?? '/srv/data'} ext4 defaults 0 2`]
        : []),
    ].join('\n');
    const rootStage = join(work, 'root');
    await stage(rootStage, {
      'etc/os-release': osRelease,
      'etc/fstab': `# demo fstab\n${fstab}\n`,
      'var/lib/dpkg/status': dpkgStatus(),
      'usr/bin/env': fakeElf(),
      'boot/grub/grub.cfg': 'linux /boot/vmlinuz root=UUID=demo\n',
      'opt/payload.bin': pseudoRandom(options.payloadBytes ?? MiB, 0x5eed),
      'opt/text.txt': 'hello world\n'.repeat(1000),
      ...options.files,
    });
    // The mount points every Linux root has: install chroots into the new root through them.
    for (const dir of ['dev', 'proc', 'sys', 'run', 'tmp']) {
      await mkdir(join(rootStage, dir), { recursive: true });
      await utimes(join(rootStage, dir), EPOCH, EPOCH);
    }
    const root = join(work, 'root.img');
    const mkfs = async (dir: string, file: string, uuid: string, label: string, mib: number) =>
      run(
        'mkfs.ext4',
        [
          '-q',
          '-F',
          '-d',
          dir,
          '-U',
          uuid,
          '-L',
          label,
          '-b',
          '4096',
          '-E',
          `root_owner=0:0,hash_seed=${uuid}`,
          file,
          `${mib}M`,
        ],
        { env },
      );
    await mkfs(rootStage, root, DEMO_IDS.rootFsUuid, 'root', options.rootMiB);

    const espPart = layout[0]!;
    const rootPart = layout[1]!;
    await copyInto(options.path, esp, espPart.firstLba * lbaSize);
    await copyInto(options.path, root, rootPart.firstLba * lbaSize);
    const result: DemoDiskImage = {
      path: options.path,
      size: (await stat(options.path)).size,
      lbaSize,
      diskGuid: DEMO_IDS.diskGuid,
      partitions: [],
      esp: undefined as unknown as DemoPartition,
      root: undefined as unknown as DemoPartition,
      osRelease,
    };
    if (hashMiB) {
      const hash = join(work, 'hash.img');
      await (await open(hash, 'w')).close();
      const { stdout } = await run(
        'veritysetup',
        ['format', root, hash, `--salt=${DEMO_IDS.veritySalt}`, `--uuid=${DEMO_IDS.verityUuid}`],
        { env },
      );
      const roothash = /Root hash:\s*([0-9a-f]+)/u.exec(stdout)?.[1];
      if (!roothash) throw new Error(`veritysetup printed no root hash: ${stdout}`);
      await copyInto(options.path, hash, layout[2]!.firstLba * lbaSize);
      result.verity = { dataPartition: 2, hashPartition: 3, roothash };
    }
    if (dataMiB) {
      const dataStage = join(work, 'data');
      await stage(dataStage, {
        README: 'data partition\n',
        'blob.bin': pseudoRandom(64 * 1024, 7),
        // Mounted at /boot, it carries the boot files the root's own /boot would have.
        ...(options.dataMountPoint === '/boot' ? { 'grub/grub.cfg': 'linux /vmlinuz root=UUID=demo\n' } : {}),
      });
      const data = join(work, 'data.img');
      await mkfs(dataStage, data, DEMO_IDS.dataFsUuid, 'data', dataMiB);
      await copyInto(options.path, data, layout[layout.length - 1]!.firstLba * lbaSize);
    }
    const fsOf: Record<string, Pick<DemoPartition, 'fsType' | 'fsUuid'>> = {
      esp: { fsType: 'vfat', fsUuid: DEMO_IDS.espFsUuid },
      root: { fsType: 'ext4', fsUuid: DEMO_IDS.rootFsUuid },
      data: { fsType: 'ext4', fsUuid: DEMO_IDS.dataFsUuid },
    };
    result.partitions = layout.map((p) => ({
      number: p.number,
      name: p.name,
      typeGuid: p.typeGuid,
      partitionGuid: p.partitionGuid,
      offset: p.firstLba * lbaSize,
      size: (p.lastLba - p.firstLba + 1) * lbaSize,
      ...fsOf[p.name],
    }));
    result.esp = result.partitions[0]!;
    result.root = result.partitions[1]!;
    const data = result.partitions.find((p) => p.name === 'data');
    if (data) result.data = data;
    return result;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
