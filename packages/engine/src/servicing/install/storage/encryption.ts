/**
 * LUKS2 volumes for a clean install (upstream `engine/storage/encryption.rs`,
 * `osutils/encryption.rs`): one key file for every volume (the recovery key the configuration
 * names, or 64 random bytes in a 0600 temporary file), each device formatted with upstream's
 * cryptsetup options, a TPM 2.0 key enrolled with systemd-cryptenroll sealed to the configured
 * PCRs, then the volume opened as `/dev/mapper/<deviceName>`. Without a recovery key the password
 * slot is wiped afterwards: the TPM alone unlocks the volume, as upstream leaves it.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTool } from '@trident/exec';
import type { HostConfiguration } from '@trident/host-config';
import { EngineError, wrapStep } from '../../../errors.ts';
import type { Log } from '../../phases/run-session.ts';
import { waitForNode } from './block-nodes.ts';

export interface OpenedVolume {
  id: string;
  deviceName: string;
  /** `/dev/mapper/<deviceName>`. */
  path: string;
  /** The LUKS device underneath (a partition node or an array). */
  backing: string;
  /** The LUKS header's UUID (`rd.luks.uuid`). */
  luksUuid: string;
}

/** Upstream's `cryptsetup luksFormat` options, in its order; the key file and device follow. */
export function luksFormatArgs(keyFile: string, device: string): string[] {
  return [
    'luksFormat',
    '--cipher',
    'aes-xts-plain64',
    '--force-password',
    '--hash',
    'sha512',
    '--iter-time',
    '0',
    '--key-file',
    keyFile,
    '--key-size',
    '512',
    '--key-slot',
    '0',
    '--pbkdf',
    'pbkdf2',
    '--reduce-device-size',
    '16M',
    '--type',
    'luks2',
    // No --batch-mode, as upstream: cryptsetup asks for confirmation only on a terminal.
    device,
  ];
}

/** systemd-cryptenroll enrolling the TPM (replacing any earlier TPM slot), sealed to `pcrs`. */
export function cryptenrollArgs(device: string, keyFile: string, pcrs: readonly number[]): string[] {
  return [
    device,
    '--tpm2-device=auto',
    '--wipe-slot=tpm2',
    `--unlock-key-file=${keyFile}`,
    `--tpm2-pcrs=${pcrs.join('+')}`,
  ];
}

interface KeyFile {
  path: string;
  /** Whether this run made it (then it is removed at the end). */
  generated: boolean;
}

/**
 * The recovery key as upstream accepts it: a `file://` URL of a non-empty regular file that only
 * its owner can read (no group or other bits); else a fresh random key of 64 bytes in a 0600 file.
 */
async function keyFile(recoveryKeyUrl: string | undefined): Promise<KeyFile> {
  if (recoveryKeyUrl === undefined) {
    const dir = await mkdtemp(join(tmpdir(), 'trident-luks-'));
    const path = join(dir, 'key');
    await writeFile(path, randomBytes(64), { mode: 0o600 });
    return { path, generated: true };
  }
  let path: string;
  try {
    path = fileURLToPath(recoveryKeyUrl);
  } catch (error) {
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration',
      `storage.encryption.recoveryKeyUrl '${recoveryKeyUrl}' is not a file:// URL of a local file`,
      { cause: error, code: 'ENGINE_RECOVERY_KEY_FILE' },
    );
  }
  const info = await lstat(path).catch(() => undefined);
  const problem =
    info === undefined
      ? 'does not exist'
      : !info.isFile()
        ? 'is not a regular file'
        : info.size === 0
          ? 'is empty'
          : (info.mode & 0o077) !== 0
            ? `is readable by others (mode ${(info.mode & 0o777).toString(8)}; chmod 600 it)`
            : undefined;
  if (problem !== undefined)
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration',
      `the recovery key file ${path} (storage.encryption.recoveryKeyUrl) ${problem}`,
      { code: 'ENGINE_RECOVERY_KEY_FILE' },
    );
  return { path, generated: false };
}

/** Whether a TPM 2.0 answers (`tpm2_pcrread`, as upstream checks). */
async function tpmPresent(signal: AbortSignal): Promise<boolean> {
  const result = await runTool('tpm2_pcrread', ['sha256:7'], { okCodes: 'any', signal }).catch(
    () => undefined,
  );
  return result?.exitCode === 0;
}

/**
 * Formats, enrols and opens every configured volume on `backingPath(deviceId)`. On failure the
 * volumes opened so far are closed before the error is thrown; the generated key file is always
 * removed.
 */
export async function openEncryptedVolumes(
  config: HostConfiguration,
  backingPath: (deviceId: string) => string,
  signal: AbortSignal,
  log: Log,
): Promise<OpenedVolume[]> {
  const encryption = config.storage.encryption;
  if (encryption === undefined || encryption.volumes.length === 0) return [];
  const key = await keyFile(encryption.recoveryKeyUrl);
  const opened: OpenedVolume[] = [];
  try {
    const tpm = await tpmPresent(signal);
    if (!tpm && !encryption.recoveryKeyUrl)
      throw new EngineError(
        'SERVICING_ERROR',
        'encrypt-block-device',
        'encryption needs a TPM 2.0 device to seal the volume key to (tpm2_pcrread failed), or a recovery key (storage.encryption.recoveryKeyUrl) to unlock the volumes with',
        { code: 'ENGINE_NO_TPM' },
      );
    if (!tpm)
      log(
        'warn',
        'No TPM 2.0 device answers (tpm2_pcrread failed): the volumes unlock with the recovery key only',
      );
    if (tpm && encryption.clearTpmOnInstall === true) {
      log('info', 'Clearing the TPM 2.0 device (clearTpmOnInstall)');
      await run('tpm2_clear', [], 'Failed to clear the TPM 2.0 device', signal);
    }
    for (const volume of encryption.volumes) {
      signal.throwIfAborted();
      const device = backingPath(volume.deviceId);
      await waitForNode(device, signal, 'encrypt-block-device');
      const what = `encrypted volume '${volume.id}' on ${device}`;
      log('info', `Initializing '${volume.id}': formatting ${device} with LUKS2`);
      await run('cryptsetup', luksFormatArgs(key.path, device), `Failed to format ${what}`, signal);
      if (tpm) {
        log('info', `Enrolling the TPM 2.0 device for '${volume.id}' (PCRs ${encryption.pcrs.join('+')})`);
        await run(
          'systemd-cryptenroll',
          cryptenrollArgs(device, key.path, encryption.pcrs),
          `Failed to enrol the TPM for ${what}`,
          signal,
        );
      }
      await run(
        'cryptsetup',
        ['luksOpen', '--key-file', key.path, device, volume.deviceName],
        `Failed to open ${what}`,
        signal,
      );
      const path = `/dev/mapper/${volume.deviceName}`;
      const luksUuid = (
        await run('cryptsetup', ['luksUUID', device], `Failed to read the UUID of ${what}`, signal)
      ).trim();
      opened.push({ id: volume.id, deviceName: volume.deviceName, path, backing: device, luksUuid });
      await waitForNode(path, signal, 'encrypt-block-device');
      if (!encryption.recoveryKeyUrl) {
        // The random key leaves with this run: only the TPM slot should unlock the volume.
        await run(
          'systemd-cryptenroll',
          [device, '--wipe-slot=password', `--unlock-key-file=${key.path}`],
          `Failed to wipe the password slot of ${what}`,
          signal,
        );
      }
    }
    return opened;
  } catch (error) {
    await closeVolumes(opened, log).catch((closeError: unknown) =>
      log('warn', `After the failure, ${(closeError as Error).message}`),
    );
    throw error;
  } finally {
    if (key.generated) await rm(join(key.path, '..'), { recursive: true, force: true });
  }
}

async function run(command: string, args: string[], what: string, signal: AbortSignal): Promise<string> {
  try {
    return (await runTool(command, args, { signal })).stdout;
  } catch (error) {
    throw wrapStep('SERVICING_ERROR', 'encrypt-block-device', what, error);
  }
}

/** Closes opened volumes (newest first); every failure is collected into one `cleanup-encryption` error. */
export async function closeVolumes(volumes: readonly OpenedVolume[], log: Log): Promise<void> {
  const problems: string[] = [];
  for (const volume of [...volumes].reverse()) {
    const result = await runTool('cryptsetup', ['close', volume.deviceName], { okCodes: 'any' });
    if (result.exitCode === 0) log('debug', `Closed the encrypted volume ${volume.path}`);
    else
      problems.push(
        `cryptsetup close ${volume.deviceName}: ${result.stderr.trim() || `exit ${result.exitCode}`}`,
      );
  }
  if (problems.length > 0)
    throw new EngineError(
      'SERVICING_ERROR',
      'cleanup-encryption',
      `could not close encrypted volumes: ${problems.join('; ')}`,
    );
}
