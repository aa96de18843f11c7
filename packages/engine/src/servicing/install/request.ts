import type { CommonRequestOptions, TargetRequest } from '../../types.ts';

/** A clean install from a Host Configuration: its storage laid out on every configured disk. */
export interface InstallRequest extends CommonRequestOptions {
  kind: 'install';
  /** Host Configuration YAML text, and where it came from (for messages). */
  hostConfiguration: { text: string; path?: string };
  /** Overrides a disk's `device` from the Host Configuration (disk id → path or image file). */
  disks?: Record<string, TargetRequest>;
  /** Grow writable ext filesystems that were shrunk to fill their partitions (default true, as Trident). */
  resize?: boolean;
}
