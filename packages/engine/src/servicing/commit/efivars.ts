import { statfs } from 'node:fs/promises';
import { join } from 'node:path';

const EFIVARFS_MAGIC = 0xde5e81e4;

/** The firmware's variables under a system directory (`/sys`; tests: a temp tree). */
export function efivarsDirOf(sysDir: string): string {
  return join(sysDir, 'firmware/efi/efivars');
}

/**
 * Whether `dir` is the firmware's variable store (efivarfs), so efibootmgr can change BootOrder.
 * A plain directory (tests, a host booted without UEFI) is not: commit then leaves BootOrder alone.
 */
export async function efivarsUsable(dir: string): Promise<boolean> {
  return (await statfs(dir).catch(() => undefined))?.type === EFIVARFS_MAGIC;
}
