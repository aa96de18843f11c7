import type { CommonRequestOptions, TargetRequest } from '../../types.ts';
import type { AllowedOperations } from '../allowed-operations.ts';

/** A clean install from a Host Configuration: its storage laid out on every configured disk. */
export interface InstallRequest extends CommonRequestOptions {
  kind: 'install';
  /**
   * Host Configuration YAML text, and where it came from (for messages). Required to stage; a
   * finalize-only install takes the staged one from `stagingDatastore` (and, when given, checks
   * that this one is the same document).
   */
  hostConfiguration?: { text: string; path?: string } | undefined;
  /** Overrides a disk's `device` from the Host Configuration (disk id → path or image file). */
  disks?: Record<string, TargetRequest>;
  /** Grow writable ext filesystems that were shrunk to fill their partitions (default true, as Trident). */
  resize?: boolean;
  /**
   * Which halves run (upstream `--allowed-operations`), default both in one run. Stage alone
   * writes the disks and configures the new root, then records `clean-install-staged` in
   * `stagingDatastore`; finalize alone reads that record and does the rest (the new root's
   * datastore, the UEFI boot entry, `clean-install-finalized`).
   */
  allowedOperations?: AllowedOperations | undefined;
  /**
   * The servicing OS's datastore (upstream: the installer's, at the agent's `DatastorePath`), where
   * a stage-only install leaves what its finalize needs. Default `/var/lib/trident/datastore.sqlite`.
   * Not written by an install that stages and finalizes in one run.
   */
  stagingDatastore?: string | undefined;
}
