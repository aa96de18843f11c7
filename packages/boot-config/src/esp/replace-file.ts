import type { EspVolume } from './esp-volume.ts';

/**
 * Replaces a file so that an interruption leaves the old or the new content, never half of it:
 * the new bytes go to `<path>.new` (a name boot loaders ignore: systemd-boot reads `*.conf`,
 * firmware `*.EFI`), which is then renamed over the old file. FAT has no atomic rename, but the
 * rename is one directory-entry update, far smaller than rewriting the file in place.
 */
export async function replaceFile(volume: EspVolume, path: string, data: string | Uint8Array): Promise<void> {
  const staged = `${path}.new`;
  await volume.write(staged, data);
  await volume.rename(staged, path);
}
