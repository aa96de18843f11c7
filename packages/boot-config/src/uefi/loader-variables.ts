/**
 * systemd-boot's EFI variables (Boot Loader Interface, vendor GUID 4a67b082-…): which entry boots
 * once (`LoaderEntryOneShot`, for an A/B update's trial boot), which boots by default
 * (`LoaderEntryDefault`, install and commit), and which booted (`LoaderEntrySelected`). Upstream
 * writes them with `efivar --write` (UTF-16LE, NUL-terminated, the entry's file name); we write
 * efivarfs directly, the same bytes `bootctl set-oneshot` and `efivar` produce: a 32-bit attribute
 * word (non-volatile, boot service, runtime access) followed by the value, in one write(2).
 */
import { constants, type PathLike } from 'node:fs';
import { open, readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '@trident/exec';
import { BootConfigError } from '../errors.ts';

export const LOADER_VENDOR_GUID = '4a67b082-0a4c-41cf-b6c7-440b29bb8c4f';
export const EFIVARS_DIR = '/sys/firmware/efi/efivars';
/** EFI_VARIABLE_NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS. */
const ATTRIBUTES = 0x7;
const EFIVARFS_MAGIC = 0xde5e81e4;

export interface EfiVariableOptions {
  /** Default /sys/firmware/efi/efivars. */
  efivarsDir?: string;
}

export function encodeUtf16z(value: string): Buffer {
  return Buffer.concat([Buffer.from(value, 'utf16le'), Buffer.alloc(2)]);
}

function decodeUtf16z(bytes: Buffer): string {
  return bytes.toString('utf16le').replace(/\0+$/u, '');
}

function variablePath(name: string, options: EfiVariableOptions): string {
  return join(options.efivarsDir ?? EFIVARS_DIR, `${name}-${LOADER_VENDOR_GUID}`);
}

async function isEfivarfs(path: PathLike): Promise<boolean> {
  return (await statfs(path).catch(() => undefined))?.type === EFIVARFS_MAGIC;
}

async function writeVariable(name: string, value: Buffer, options: EfiVariableOptions): Promise<void> {
  const path = variablePath(name, options);
  const fail = (cause: unknown) =>
    new BootConfigError(
      'BOOTCFG_EFIVAR',
      `writing EFI variable ${name} (${path}) failed: ${(cause as Error).message}`,
      {
        path,
        cause,
      },
    );
  const efivarfs = await isEfivarfs(options.efivarsDir ?? EFIVARS_DIR);
  // efivarfs marks existing variables immutable against stray deletion; lift it for the write.
  if (efivarfs) await runTool('chattr', ['-i', path], { okCodes: 'any' }).catch(() => undefined);
  const payload = Buffer.alloc(4 + value.length);
  payload.writeUInt32LE(ATTRIBUTES, 0);
  value.copy(payload, 4);
  try {
    // efivarfs replaces the variable on write and has no truncate; a plain directory needs one.
    const flags = constants.O_WRONLY | constants.O_CREAT | (efivarfs ? 0 : constants.O_TRUNC);
    const handle = await open(path, flags, 0o644);
    try {
      const { bytesWritten } = await handle.write(payload, 0, payload.length, 0);
      if (bytesWritten !== payload.length)
        throw new Error(`short write (${bytesWritten} of ${payload.length} bytes)`);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw fail(error);
  }
}

function checkEntryId(entry: string): void {
  if (entry === '' || /[\0/]/u.test(entry))
    throw new BootConfigError('BOOTCFG_EFIVAR', `${JSON.stringify(entry)} is not a boot loader entry id`);
}

/** The entry (file name, e.g. `vmlinuz-101-azlb0.efi` or `os.conf`) to boot once, next boot only. */
export async function setLoaderEntryOneShot(entry: string, options: EfiVariableOptions = {}): Promise<void> {
  checkEntryId(entry);
  await writeVariable('LoaderEntryOneShot', encodeUtf16z(entry), options);
}

/** The entry to boot by default (overrides loader.conf's `default`). */
export async function setLoaderEntryDefault(entry: string, options: EfiVariableOptions = {}): Promise<void> {
  checkEntryId(entry);
  await writeVariable('LoaderEntryDefault', encodeUtf16z(entry), options);
}

async function readVariable(name: string, options: EfiVariableOptions): Promise<string | undefined> {
  const bytes = await readFile(variablePath(name, options)).catch(() => undefined);
  return bytes === undefined || bytes.length <= 4 ? undefined : decodeUtf16z(bytes.subarray(4));
}

/** The entry systemd-boot booted this time, or undefined when not booted by systemd-boot. */
export async function readLoaderEntrySelected(options: EfiVariableOptions = {}): Promise<string | undefined> {
  return readVariable('LoaderEntrySelected', options);
}

/** The default entry set through the variable (not loader.conf's), or undefined when unset. */
export async function readLoaderEntryDefault(options: EfiVariableOptions = {}): Promise<string | undefined> {
  return readVariable('LoaderEntryDefault', options);
}
