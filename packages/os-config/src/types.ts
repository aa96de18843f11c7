import type { HostConfiguration } from '@trident/host-config';
import type { OpenSourceOptions } from '@trident/remote-source';
import type { ExtensionLists, StagedExtension } from './extensions/stage.ts';

/**
 * Trident's servicing types (reference servicing.md §0), kebab-case as in Host Status. They decide
 * which scripts are selected by their `runOn` list and what `SERVICING_TYPE` scripts see.
 */
export type ServicingType =
  | 'none'
  | 'runtime-update'
  | 'ab-update'
  | 'clean-install'
  | 'manual-rollback-ab'
  | 'manual-rollback-runtime';

/**
 * What the storage phase laid out, beyond what the Host Configuration already says: the runtime
 * facts that OS configuration refers to. Mount points, options, swap, verity, encryption and RAID
 * come from the Host Configuration itself; this adds the identities chosen at install time.
 */
export interface StorageLayout {
  /**
   * GPT partition UUID (PARTUUID) of every partition that was created or adopted, by Host
   * Configuration id. Upstream refers to partitions as `/dev/disk/by-partuuid/<uuid>`, so the
   * installed OS finds them whatever the kernel names the disk.
   */
  partitionUuids: Readonly<Record<string, string>>;
  /**
   * Filesystem type of every `source: image` filesystem, by mount point (the COSI's `fsType`).
   * An image filesystem without an entry is written as `auto`, as upstream does.
   */
  imageFilesystemTypes?: Readonly<Record<string, string>> | undefined;
  /**
   * Filesystem type found on the disk of every `source: adopted` filesystem declared `auto`, by
   * mount point. Without an entry fstab says `auto`, as upstream writes it.
   */
  adoptedFilesystemTypes?: Readonly<Record<string, string>> | undefined;
  /** The A/B volume being written (clean install: `volume-a`); A/B pair ids resolve to it. */
  targetVolume?: 'volume-a' | 'volume-b' | undefined;
}

/** One progress event per step: started, then completed or skipped (with why) or failed. */
export interface OsConfigStepEvent {
  /** Stable step name, e.g. `fstab`, `users`, `post-configure-scripts`. */
  step: OsConfigStepName;
  /** Provision runs on the servicing OS with the new root mounted; configure runs in the chroot. */
  phase: 'provision' | 'configure';
  status: 'started' | 'completed' | 'skipped' | 'failed';
  /** For `skipped`: why; for `completed`: what was done; for `failed`: the error message. */
  detail?: string | undefined;
}

export type OsConfigStepName =
  | 'machine-id'
  | 'extensions'
  | 'post-provision-scripts'
  | 'fstab'
  | 'crypttab'
  | 'mdadm-conf'
  | 'netplan'
  | 'users'
  | 'hostname'
  | 'services'
  | 'modules'
  | 'selinux'
  | 'agent-config'
  | 'additional-files'
  | 'post-configure-scripts'
  | 'selinux-relabel';

export interface OsConfigLog {
  level: 'debug' | 'info' | 'warn';
  /** The step that logged it, or the script runner. */
  source: string;
  message: string;
}

export interface OsConfigOptions {
  /** Default `clean-install`. */
  servicingType?: ServicingType | undefined;
  /** The boot kind of the image: UKI with root verity skips OS configuration, as upstream. */
  bootKind?: 'grub' | 'systemd-boot' | 'uki' | undefined;
  onStep?: ((event: OsConfigStepEvent) => void) | undefined;
  onLog?: ((log: OsConfigLog) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** How sysext/confext URLs are fetched (proxy, CA, retries, OCI credentials). */
  extensionSource?: OpenSourceOptions | undefined;
  /** A/B update: the running OS's `os` lists (with paths); images with the same hash are copied from `/`. */
  runningExtensions?: ExtensionLists | undefined;
  /** Called with every placed image and its final path, for the spec the datastore records. */
  onExtensionsPlaced?: ((staged: readonly StagedExtension[]) => void) | undefined;
}

export type Config = HostConfiguration;
