/**
 * grub on an installed disk. The chain upstream Trident sets up is shim/GRUB on the ESP → the
 * `grub.cfg` beside it (a `search` for the /boot filesystem, then `configfile`) → the OS's own
 * `/boot/grub{,2}/grub.cfg` with the kernel lines. Here: the kernel lines get the installed
 * layout's command line, /etc/default/grub follows, filesystem UUIDs the installation changed are
 * replaced, and the ESP grub.cfg's `search` is pointed at the /boot filesystem.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BootTarget } from '../cmdline/compose.ts';
import { argValue, parseCmdline } from '../cmdline/kernel-cmdline.ts';
import { BootConfigError } from '../errors.ts';
import type { EspVolume } from '../esp/esp-volume.ts';
import { createMountedEsp } from '../esp/mounted-esp.ts';
import { replaceFile } from '../esp/replace-file.ts';
import type { ChangedFile } from '../systemd-boot/configure-systemd-boot.ts';
import { updateDefaultGrub } from './default-grub.ts';
import { replaceFsUuids, rewriteGrubLinuxLines, updateGrubSearch } from './grub-cfg.ts';

export interface GrubOptions {
  /** The new root (mounted or unpacked); its /etc/default/grub is kept in step when present. */
  rootDir: string;
  /** Where the volume holding /boot is (default `<rootDir>/boot`). */
  bootDir?: string;
  target: BootTarget;
  /** The ESP and its grub.cfg (e.g. `/EFI/AZLA/grub.cfg`, `/EFI/BOOT/grub.cfg`) whose search finds /boot. */
  esp?: { volume: EspVolume; grubCfg: string; bootFsUuid: string };
  /** Filesystem UUIDs the installation changed (old → new), replaced in search commands and UUID=. */
  fsUuidChanges?: Readonly<Record<string, string>>;
}

export interface GrubResult {
  grubCfg: string;
  linuxLines: number;
  changed: ChangedFile[];
}

export async function configureGrub(options: GrubOptions): Promise<GrubResult> {
  const bootDir = options.bootDir ?? join(options.rootDir, 'boot');
  const boot = createMountedEsp(bootDir); // any directory: the same replace-by-rename as on the ESP
  const candidates = ['/grub2/grub.cfg', '/grub/grub.cfg'];
  let grubCfg: string | undefined;
  let before: string | undefined;
  for (const path of candidates) {
    before = (await boot.read(path))?.toString('utf8');
    if (before !== undefined) {
      grubCfg = path;
      break;
    }
  }
  if (grubCfg === undefined || before === undefined)
    throw new BootConfigError('BOOTCFG_NOT_FOUND', `no grub.cfg in ${bootDir}${candidates.join(' or ')}`, {
      path: bootDir,
    });
  const where = join(bootDir, grubCfg);
  const renamed = replaceFsUuids(before, options.fsUuidChanges ?? {});
  // The root hash of a verity root comes from the image's own kernel line, as upstream keeps it.
  let target = options.target;
  if (target.root.kind === 'verity' && target.root.roothash === undefined) {
    const line = /^\s*linux\w*\s+\S+(.*)$/mu.exec(renamed)?.[1] ?? '';
    const roothash = argValue(parseCmdline(line, where), 'roothash');
    if (roothash !== undefined) target = { ...target, root: { ...target.root, roothash } };
  }
  const edit = rewriteGrubLinuxLines(renamed, where, target);
  const changed: ChangedFile[] = [];
  if (edit.text !== before) {
    await replaceFile(boot, grubCfg, edit.text);
    changed.push({ volume: bootDir, path: grubCfg, before, after: edit.text });
  }

  const defaultGrubPath = join(options.rootDir, 'etc/default/grub');
  const defaultGrub = await readFile(defaultGrubPath, 'utf8').catch(() => undefined);
  if (defaultGrub !== undefined) {
    const after = updateDefaultGrub(defaultGrub, target);
    if (after !== defaultGrub) {
      await replaceFile(createMountedEsp(options.rootDir), '/etc/default/grub', after);
      changed.push({ volume: options.rootDir, path: '/etc/default/grub', before: defaultGrub, after });
    }
  }

  if (options.esp !== undefined) {
    const { volume, grubCfg: espCfg, bootFsUuid } = options.esp;
    const text = (await volume.read(espCfg))?.toString('utf8');
    if (text === undefined)
      throw new BootConfigError('BOOTCFG_NOT_FOUND', `${volume.location}:${espCfg} does not exist`, {
        path: espCfg,
      });
    const after = updateGrubSearch(text, `${volume.location}:${espCfg}`, bootFsUuid);
    if (after !== text) {
      await replaceFile(volume, espCfg, after);
      changed.push({ volume: volume.location, path: espCfg, before: text, after });
    }
  }
  return { grubCfg: where, linuxLines: edit.linuxLines, changed };
}
