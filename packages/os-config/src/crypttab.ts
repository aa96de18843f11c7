/**
 * `/etc/crypttab` of the new root (upstream `subsystems/storage/encryption.rs` `configure`):
 * tab-separated name, device, key and options per encrypted volume. Volumes unlock with the TPM
 * (`none`, `luks,tpm2-device=auto`); a volume on a swap partition instead gets a fresh random key
 * each boot (systemd re-creates swap), with the same cipher and key size as the other volumes.
 */
import { devicePath, firstBackingPartition } from './device-paths.ts';
import type { Config, StorageLayout } from './types.ts';

export const CRYPTTAB_PATH = '/etc/crypttab';
const SWAP_KEY = '/dev/random';
const CIPHER = 'aes-xts-plain64';
const KEY_SIZE = 512;

/** The crypttab text, or undefined when the configuration has no `storage.encryption`. */
export function renderCrypttab(config: Config, layout: StorageLayout): string | undefined {
  const encryption = config.storage.encryption;
  if (encryption === undefined) return undefined;
  let text = '';
  for (const volume of encryption.volumes) {
    const device = devicePath(config, layout, volume.deviceId);
    const backing = firstBackingPartition(config, layout, volume.deviceId);
    text +=
      backing?.type === 'swap'
        ? `${volume.deviceName}\t${device}\t${SWAP_KEY}\tluks,swap,cipher=${CIPHER},size=${KEY_SIZE}\n`
        : `${volume.deviceName}\t${device}\tnone\tluks,tpm2-device=auto\n`;
  }
  return text;
}
