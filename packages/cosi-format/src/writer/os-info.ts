import type { FsReader } from './fs-reader.ts';

/** COSI 1.2 §metadata: `osRelease` is the os-release text; `/etc` wins over `/usr/lib` (os-release(5)). */
export async function readOsRelease(root: FsReader): Promise<string | undefined> {
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    const bytes = await root.readFile(path);
    if (bytes !== undefined) return bytes.toString('utf8');
  }
  return undefined;
}

export type OsArch = 'x86_64' | 'arm64';

/** ELF e_machine values for the two architectures COSI knows (`osArch`, reference §2.1). */
const MACHINES: Record<number, OsArch> = { 62: 'x86_64', 183: 'arm64' };

export function elfArch(bytes: Uint8Array): OsArch | undefined {
  if (bytes.length < 20 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46)
    return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return MACHINES[view.getUint16(18, bytes[5] === 1)];
}

/** The OS architecture, from the first ELF binary found in the root filesystem. */
export async function detectOsArch(root: FsReader): Promise<OsArch | undefined> {
  for (const path of ['/usr/bin/env', '/bin/sh', '/usr/bin/bash', '/sbin/init', '/usr/lib/systemd/systemd']) {
    const bytes = await root.readFile(path);
    const arch = bytes === undefined ? undefined : elfArch(bytes.subarray(0, 64));
    if (arch !== undefined) return arch;
  }
  return undefined;
}

export function hostOsArch(): OsArch {
  return process.arch === 'arm64' ? 'arm64' : 'x86_64';
}

export interface FstabEntry {
  spec: string;
  mountPoint: string;
  fsType: string;
}

export function parseFstab(text: string): FstabEntry[] {
  const entries: FstabEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/u, '').trim();
    if (line === '') continue;
    const [spec, mountPoint, fsType] = line.split(/\s+/u);
    if (spec === undefined || mountPoint === undefined) continue;
    // fstab(5) escapes spaces in paths as \040.
    const decodeOctal = (s: string) =>
      s.replace(/\\([0-7]{3})/gu, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
    entries.push({ spec: decodeOctal(spec), mountPoint: decodeOctal(mountPoint), fsType: fsType ?? '' });
  }
  return entries;
}

export interface PartitionIdentity {
  fsUuid: string | undefined;
  fsLabel: string | undefined;
  partUuid: string;
  partLabel: string;
}

function unquote(text: string): string {
  return text.replace(/^"(.*)"$/u, '$1');
}

/** Finds the fstab mount point for a partition by UUID=, PARTUUID=, LABEL=, PARTLABEL= or /dev/disk/by-*. */
export function fstabMountPoint(entries: readonly FstabEntry[], id: PartitionIdentity): string | undefined {
  const keys: Array<[string, string | undefined, boolean]> = [
    ['UUID', id.fsUuid, true],
    ['PARTUUID', id.partUuid, true],
    ['LABEL', id.fsLabel, false],
    ['PARTLABEL', id.partLabel, false],
  ];
  const byDir: Record<string, string> = {
    UUID: 'by-uuid',
    PARTUUID: 'by-partuuid',
    LABEL: 'by-label',
    PARTLABEL: 'by-partlabel',
  };
  for (const entry of entries) {
    if (!entry.mountPoint.startsWith('/')) continue; // swap, none
    for (const [key, value, caseless] of keys) {
      if (value === undefined || value === '') continue;
      let candidate: string | undefined;
      if (entry.spec.startsWith(`${key}=`)) candidate = unquote(entry.spec.slice(key.length + 1));
      else if (entry.spec.startsWith(`/dev/disk/${byDir[key]}/`))
        candidate = entry.spec.slice(`/dev/disk/${byDir[key]}/`.length);
      if (candidate === undefined) continue;
      if (caseless ? candidate.toLowerCase() === value.toLowerCase() : candidate === value)
        return entry.mountPoint;
    }
  }
  return undefined;
}
