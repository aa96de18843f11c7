import type { FsReader } from './fs-reader.ts';

export interface SystemdBootEntryInfo {
  type: 'uki-standalone' | 'uki-config' | 'config';
  path: string;
  cmdline: string;
  kernel: string;
}

export type BootloaderInfo =
  | { type: 'grub' }
  | { type: 'systemd-boot'; systemdBoot: { entries: SystemdBootEntryInfo[] } };

/** Sections of a PE/COFF image (a UKI), by name. Returns an empty map for anything else. */
export function peSections(bytes: Uint8Array): Map<string, Uint8Array> {
  const sections = new Map<string, Uint8Array>();
  if (bytes.length < 0x40 || bytes[0] !== 0x4d || bytes[1] !== 0x5a) return sections;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pe = view.getUint32(0x3c, true);
  if (pe + 24 > bytes.length || view.getUint32(pe, false) !== 0x50450000) return sections;
  const count = view.getUint16(pe + 6, true);
  const table = pe + 24 + view.getUint16(pe + 20, true);
  for (let i = 0; i < count && table + (i + 1) * 40 <= bytes.length; i++) {
    const at = table + i * 40;
    const name = new TextDecoder('latin1').decode(bytes.subarray(at, at + 8)).replace(/\0+$/u, '');
    const virtualSize = view.getUint32(at + 8, true);
    const rawSize = view.getUint32(at + 16, true);
    const pointer = view.getUint32(at + 20, true);
    // VirtualSize is the real length; SizeOfRawData is padded to the file alignment.
    const length = virtualSize === 0 ? rawSize : Math.min(virtualSize, rawSize);
    sections.set(name, bytes.subarray(pointer, Math.min(bytes.length, pointer + length)));
  }
  return sections;
}

function sectionText(sections: Map<string, Uint8Array>, name: string): string {
  const bytes = sections.get(name);
  return bytes === undefined ? '' : new TextDecoder().decode(bytes).replace(/\0+$/u, '').trim();
}

/** Boot Loader Specification type #1 entry (`key value` lines); `options` may repeat. */
function parseLoaderEntry(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^\s*([a-z_-]+)\s+(.*?)\s*$/iu.exec(line);
    if (!match || line.trimStart().startsWith('#')) continue;
    const [, key, value] = match as unknown as [string, string, string];
    keys.set(key, [...(keys.get(key) ?? []), value]);
  }
  return keys;
}

async function configEntries(fs: FsReader, dir: string): Promise<SystemdBootEntryInfo[]> {
  const names = ((await fs.listDir(dir)) ?? []).filter((n) => n.toLowerCase().endsWith('.conf')).sort();
  const entries: SystemdBootEntryInfo[] = [];
  for (const name of names) {
    const text = (await fs.readFile(`${dir}/${name}`))?.toString('utf8');
    if (text === undefined) continue;
    const keys = parseLoaderEntry(text);
    const uki = keys.get('uki')?.[0];
    const linux = keys.get('linux')?.[0] ?? uki ?? '';
    const version = keys.get('version')?.[0] ?? /vmlinuz-(.+)$/u.exec(linux)?.[1] ?? linux;
    entries.push({
      type: uki === undefined ? 'config' : 'uki-config',
      path: `${dir.replace(/^\//u, '')}/${name}`,
      cmdline: (keys.get('options') ?? []).join(' '),
      kernel: version,
    });
  }
  return entries;
}

async function standaloneUkis(fs: FsReader): Promise<SystemdBootEntryInfo[]> {
  const names = ((await fs.listDir('/EFI/Linux')) ?? [])
    .filter((n) => n.toLowerCase().endsWith('.efi'))
    .sort();
  const entries: SystemdBootEntryInfo[] = [];
  for (const name of names) {
    const bytes = await fs.readFile(`/EFI/Linux/${name}`);
    if (bytes === undefined) continue;
    const sections = peSections(bytes);
    entries.push({
      type: 'uki-standalone',
      path: `EFI/Linux/${name}`,
      cmdline: sectionText(sections, '.cmdline'),
      kernel: sectionText(sections, '.uname'),
    });
  }
  return entries;
}

export interface BootFilesystems {
  esp?: FsReader;
  /** XBOOTLDR (`/boot`) partition, when there is one. */
  boot?: FsReader;
  root?: FsReader;
}

/**
 * COSI 1.1 §bootloader, detected the way Image Customizer does (reference §5.3): systemd-boot when
 * Boot Loader Specification entries exist (`uki` key → `uki-config`, else `config`), otherwise
 * when standalone UKIs exist in EFI/Linux; grub when a grub EFI binary or grub directory exists.
 */
export async function detectBootloader(fs: BootFilesystems): Promise<BootloaderInfo | undefined> {
  const entries: SystemdBootEntryInfo[] = [];
  for (const [reader, dir] of [
    [fs.esp, '/loader/entries'],
    [fs.boot, '/loader/entries'],
    [fs.root, '/boot/loader/entries'],
  ] as const) {
    if (reader) entries.push(...(await configEntries(reader, dir)));
  }
  if (entries.length === 0) {
    for (const reader of [fs.esp, fs.boot]) if (reader) entries.push(...(await standaloneUkis(reader)));
  }
  if (entries.length > 0) return { type: 'systemd-boot', systemdBoot: { entries } };

  if (fs.esp) {
    for (const vendor of (await fs.esp.listDir('/EFI')) ?? []) {
      const files = (await fs.esp.listDir(`/EFI/${vendor}`)) ?? [];
      if (files.some((f) => /^grub.*\.efi$/iu.test(f))) return { type: 'grub' };
    }
  }
  for (const [reader, dirs] of [
    [fs.boot, ['/grub2', '/grub']],
    [fs.root, ['/boot/grub2', '/boot/grub']],
  ] as const) {
    for (const dir of dirs) if (reader && (await reader.listDir(dir)) !== undefined) return { type: 'grub' };
  }
  return undefined;
}
