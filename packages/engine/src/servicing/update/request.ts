import type { CommonRequestOptions } from '../../types.ts';
import type { AllowedOperations } from '../allowed-operations.ts';

/** An update of a provisioned host to a new Host Configuration (upstream `trident update`). */
export interface UpdateRequest extends CommonRequestOptions {
  kind: 'update';
  /** Host Configuration YAML text, and where it came from (for messages). */
  hostConfiguration: { text: string; path?: string };
  /** Which halves may run (default both: upstream's `stage,finalize`). */
  allowedOperations?: AllowedOperations;
  /** The datastore (default: `DatastorePath=` of /etc/trident/trident.conf, else upstream's path). */
  datastorePath?: string;
  /** Grow writable ext filesystems to their partitions (default true, as Trident). */
  resize?: boolean;
  /** Where the running system is read (tests point these at prepared trees). */
  system?: {
    /** Default /proc (`self/mountinfo`, `cmdline`). */
    procDir?: string;
    /** Default /sys (block devices, `firmware/efi/efivars`). */
    sysDir?: string;
    /** Default /etc/os-release, then /usr/lib/os-release. */
    osReleasePath?: string;
  };
}
