/**
 * A type #1 entry made from the kernel and initrd in the new root's /boot, for systemd-boot images
 * that ship no entry on their boot volumes (the kernel is in the root filesystem only). Files go
 * where the Boot Loader Specification puts them: `/<entry-token>/<kernel-version>/{linux,initrd}`
 * and `/loader/entries/<entry-token>-<kernel-version>.conf`, on XBOOTLDR when there is one.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type BootTarget, composeCmdline } from '../cmdline/compose.ts';
import { formatCmdline, parseCmdline } from '../cmdline/kernel-cmdline.ts';
import { BootConfigError } from '../errors.ts';
import type { EspVolume } from '../esp/esp-volume.ts';
import { replaceFile } from '../esp/replace-file.ts';
import { serializeBlsFile } from './bls-file.ts';

export interface CreateEntryOptions {
  /** The volume systemd-boot reads entries from: XBOOTLDR when the OS has one, else the ESP. */
  volume: EspVolume;
  /** The new root (mounted or unpacked) whose /boot holds `vmlinuz-<version>` and its initrd. */
  rootDir: string;
  /** Where the kernels are, when /boot is mounted elsewhere (default `<rootDir>/boot`). */
  bootDir?: string;
  /** Entry token: names the entry file and the kernel directory (`[a-z0-9._-]`). */
  entryToken: string;
  /** The command line the image boots with, before the installed layout is applied. */
  baseCmdline: string;
  target: BootTarget;
  /** Default: the highest version with both a kernel and an initrd. */
  kernelVersion?: string;
  /** Default: PRETTY_NAME of the new root's os-release. */
  title?: string;
}

export interface CreatedEntry {
  entryPath: string;
  kernelVersion: string;
  files: string[];
  cmdline: string;
}

const INITRD_NAMES = (v: string) => [`initrd.img-${v}`, `initramfs-${v}.img`, `initrd-${v}`];

async function osPrettyName(rootDir: string): Promise<string | undefined> {
  for (const file of ['etc/os-release', 'usr/lib/os-release']) {
    const text = await readFile(join(rootDir, file), 'utf8').catch(() => undefined);
    const match = text === undefined ? null : /^PRETTY_NAME="?([^"\n]*)"?$/mu.exec(text);
    if (match) return match[1];
  }
  return undefined;
}

export async function createLoaderEntry(options: CreateEntryOptions): Promise<CreatedEntry> {
  if (!/^[a-z0-9][a-z0-9._-]*$/iu.test(options.entryToken))
    throw new BootConfigError(
      'BOOTCFG_CONFIG_INVALID',
      `entry token ${JSON.stringify(options.entryToken)} must be [A-Za-z0-9._-]`,
    );
  const bootDir = options.bootDir ?? join(options.rootDir, 'boot');
  const names = await readdir(bootDir).catch((error: unknown) => {
    throw new BootConfigError(
      'BOOTCFG_NOT_FOUND',
      `cannot read the kernels in ${bootDir}: ${(error as Error).message}`,
      {
        path: bootDir,
        cause: error,
      },
    );
  });
  const pairs = names
    .filter((n) => n.startsWith('vmlinuz-'))
    .map((n) => n.slice('vmlinuz-'.length))
    .map((version) => ({ version, initrd: INITRD_NAMES(version).find((i) => names.includes(i)) }))
    .filter((p): p is { version: string; initrd: string } => p.initrd !== undefined)
    .sort((a, b) => a.version.localeCompare(b.version, 'en', { numeric: true }));
  const chosen =
    options.kernelVersion === undefined
      ? pairs.at(-1)
      : pairs.find((p) => p.version === options.kernelVersion);
  if (chosen === undefined)
    throw new BootConfigError(
      'BOOTCFG_NOT_FOUND',
      `${bootDir} has no ${options.kernelVersion === undefined ? '' : `${options.kernelVersion} `}kernel with an initrd ` +
        `(vmlinuz-<version> and one of ${INITRD_NAMES('<version>').join(', ')})`,
      { path: bootDir },
    );
  const dir = `/${options.entryToken}/${chosen.version}`;
  const cmdline = formatCmdline(
    composeCmdline(parseCmdline(options.baseCmdline, 'base command line'), options.target),
  );
  const title = options.title ?? (await osPrettyName(options.rootDir)) ?? options.entryToken;
  // Kernel and initrd first, the entry last: an interrupted run leaves no entry naming missing files.
  await options.volume.write(`${dir}/linux`, await readFile(join(bootDir, `vmlinuz-${chosen.version}`)));
  await options.volume.write(`${dir}/initrd`, await readFile(join(bootDir, chosen.initrd)));
  const entryPath = `/loader/entries/${options.entryToken}-${chosen.version}.conf`;
  const entry = serializeBlsFile({
    path: entryPath,
    lines: [
      { key: 'title', value: title, raw: '' },
      { key: 'version', value: chosen.version, raw: '' },
      { key: 'linux', value: `${dir}/linux`, raw: '' },
      { key: 'initrd', value: `${dir}/initrd`, raw: '' },
      { key: 'options', value: cmdline, raw: '' },
    ],
  });
  await replaceFile(options.volume, entryPath, entry);
  return {
    entryPath,
    kernelVersion: chosen.version,
    files: [`${dir}/linux`, `${dir}/initrd`, entryPath],
    cmdline,
  };
}
