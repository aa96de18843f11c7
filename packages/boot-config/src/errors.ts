/**
 * Every failure of boot configuration is a `BootConfigError` with a stable `code`; callers (the
 * install and update engines) match on the code and map it to Trident's error kinds.
 */
export type BootConfigErrorCode =
  /** A path given for the ESP is not an absolute, plain path inside it (`..`, backslash, NUL). */
  | 'BOOTCFG_ESP_PATH_INVALID'
  /** Reading or writing the ESP failed (mtools or the filesystem said why). */
  | 'BOOTCFG_ESP_IO'
  /** The disk has no partition table we can read, or no ESP (or XBOOTLDR) partition. */
  | 'BOOTCFG_DISK_LAYOUT'
  /** A file the boot configuration needs is missing: loader entries, grub.cfg, kernel, initrd. */
  | 'BOOTCFG_NOT_FOUND'
  /** A loader entry, loader.conf or grub.cfg is not what the format allows. */
  | 'BOOTCFG_CONFIG_INVALID'
  /** A kernel command line argument is malformed (unbalanced quote, empty, control characters). */
  | 'BOOTCFG_CMDLINE_INVALID'
  /** The image boots a UKI whose command line would have to change: refused (see README). */
  | 'BOOTCFG_UKI_CMDLINE_EMBEDDED'
  /** A request we do not carry out, named with the reason (see README "Refused"). */
  | 'BOOTCFG_UNSUPPORTED'
  /** efibootmgr failed or printed what we cannot read. */
  | 'BOOTCFG_EFIBOOTMGR'
  /** Reading or writing an EFI variable (efivarfs) failed. */
  | 'BOOTCFG_EFIVAR';

export class BootConfigError extends Error {
  override readonly name = 'BootConfigError';
  readonly code: BootConfigErrorCode;
  /** The file (or ESP path) the error is about, when there is one. */
  readonly path: string | undefined;

  constructor(code: BootConfigErrorCode, message: string, options: { path?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options.path;
  }
}

export function isBootConfigError(value: unknown, code?: BootConfigErrorCode): value is BootConfigError {
  return value instanceof BootConfigError && (code === undefined || value.code === code);
}
