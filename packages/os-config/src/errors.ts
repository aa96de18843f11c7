/**
 * Every failure of OS configuration is an `OsConfigError` with a stable `code` and the Trident
 * error `subkind` (reference servicing.md §12) the engine reports it as. Tool failures keep the
 * `ExecError` as `cause`; callers match on `code`, never on message text.
 */
export const OS_CONFIG_CODES = {
  /** A storage device id of the Host Configuration has no laid-out device behind it. */
  OS_CONFIG_UNKNOWN_DEVICE: 'generate-fstab',
  OS_CONFIG_FSTAB: 'generate-fstab',
  OS_CONFIG_CRYPTTAB: 'create-crypttab',
  OS_CONFIG_MDADM_CONF: 'create-mdadm-conf',
  OS_CONFIG_MACHINE_ID: 'create-machine-id',
  OS_CONFIG_COPY_MACHINE_ID: 'copy-machine-id',
  OS_CONFIG_USERS: 'set-up-users',
  OS_CONFIG_HOSTNAME: 'run-os-modifier',
  OS_CONFIG_SERVICES: 'run-os-modifier',
  OS_CONFIG_MODULES: 'run-os-modifier',
  OS_CONFIG_NETPLAN_WRITE: 'write-netplan-config',
  OS_CONFIG_NETPLAN_GENERATE: 'generate-netplan-config',
  /** `netplan apply` on the running OS (runtime update). */
  OS_CONFIG_NETPLAN_APPLY: 'apply-netplan-config',
  /** `os.selinux` asks for permissive/enforcing and the new OS has no SELinux. */
  OS_CONFIG_SELINUX_NOT_FOUND: 'selinux-enabled-but-not-found',
  OS_CONFIG_SELINUX: 'run-os-modifier',
  /** SELinux enforcing with a verity root (non-UKI) or with sysexts/confexts. */
  OS_CONFIG_SELINUX_UNSUPPORTED: 'invalid-host-configuration-dynamic',
  OS_CONFIG_ADDITIONAL_FILE: 'write-additional-file',
  /** The image's /etc/trident/trident.conf names another datastore, or a verity root has none. */
  OS_CONFIG_AGENT_CONFIG_MISMATCH: 'image-bad-agent-configuration',
  OS_CONFIG_AGENT_CONFIG: 'create-configuration-file',
  /** A script's `path` does not name a readable regular file on the servicing OS. */
  OS_CONFIG_INVALID_SCRIPT_PATH: 'invalid-script-path',
  OS_CONFIG_PRE_SERVICING_SCRIPT: 'run-pre-servicing-script',
  OS_CONFIG_POST_PROVISION_SCRIPT: 'run-post-provision-script',
  OS_CONFIG_POST_CONFIGURE_SCRIPT: 'run-post-configure-script',
  /** One or more `health.checks` failed; `details` lists each. */
  OS_CONFIG_HEALTH_CHECKS_FAILED: 'health-checks-failed',
  /** A path of the configuration would leave the new root (`..`, or a symlink pointing out). */
  OS_CONFIG_PATH_OUTSIDE_ROOT: 'invalid-host-configuration-dynamic',
  /** The servicing type is one whose OS configuration this package does not do (runtime update, rollback). */
  OS_CONFIG_UNSUPPORTED_SERVICING: 'unsupported-feature',
  /** An extension image could not be downloaded, or copied from the running OS. */
  OS_CONFIG_EXTENSION_DOWNLOAD: 'populate-extension-images',
  /** The image's bytes do not hash to the Host Configuration's `sha384`. */
  OS_CONFIG_EXTENSION_HASH_MISMATCH: 'populate-extension-images',
  /** The image is no filesystem or disk image this agent can read. */
  OS_CONFIG_EXTENSION_INSPECT: 'populate-extension-images',
  /** Not exactly one `extension-release.<NAME>`, or no `SYSEXT_ID`/`CONFEXT_ID` in it. */
  OS_CONFIG_EXTENSION_RELEASE: 'populate-extension-images',
  /** A declared `path` whose file name is not `<NAME>.raw`. */
  OS_CONFIG_EXTENSION_PATH: 'invalid-host-configuration-dynamic',
  /** Two images with one ID, or for one path. */
  OS_CONFIG_EXTENSION_DUPLICATE: 'invalid-host-configuration-dynamic',
  /** Moving images into place failed. */
  OS_CONFIG_EXTENSION_PLACE: 'place-extension-images',
  /** `systemd-sysext refresh` / `systemd-confext refresh` failed. */
  OS_CONFIG_EXTENSION_MERGE: 'refresh-extensions',
  /** Mounting or unmounting the chroot's /dev, /proc, /sys, /run or /tmp failed. */
  OS_CONFIG_CHROOT: 'enter-chroot',
} as const;

export type OsConfigCode = keyof typeof OS_CONFIG_CODES;

export class OsConfigError extends Error {
  override readonly name = 'OsConfigError';
  readonly code: OsConfigCode;
  /** Trident's error subkind for this failure (kebab-case, reference §12). */
  readonly subkind: string;

  constructor(code: OsConfigCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.subkind = OS_CONFIG_CODES[code];
  }
}

export function isOsConfigError(value: unknown, code?: OsConfigCode): value is OsConfigError {
  return value instanceof OsConfigError && (code === undefined || value.code === code);
}

/** The message of a foreign error, for wrapping it into a sentence. */
export function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One failed health check: its name and why. */
export interface HealthCheckFailure {
  name: string;
  error: string;
}

/** `OS_CONFIG_HEALTH_CHECKS_FAILED` with every failed check, as upstream merges them. */
export class HealthChecksError extends OsConfigError {
  readonly failures: readonly HealthCheckFailure[];

  constructor(message: string, failures: readonly HealthCheckFailure[]) {
    super('OS_CONFIG_HEALTH_CHECKS_FAILED', message);
    this.failures = failures;
  }
}
