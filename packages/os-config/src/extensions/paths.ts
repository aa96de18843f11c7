/**
 * Where extension images live on a host (reference servicing.md §10, upstream
 * `subsystems/extensions/`): default directories per kind, the staging directory downloads land in,
 * and where each kind keeps its `extension-release.<NAME>` file inside the image.
 */
import { posix } from 'node:path';

export type ExtensionKind = 'sysext' | 'confext';

/** Default directory of an image without a declared `path`: `<dir>/<NAME>.raw`. */
export const DEFAULT_EXTENSION_DIRS: Readonly<Record<ExtensionKind, string>> = {
  sysext: '/var/lib/extensions',
  confext: '/var/lib/confexts',
};

/**
 * Downloads go here first and are renamed `<sha384>.raw` once the hash matched. A dot directory:
 * systemd-sysext skips hidden entries of /var/lib/extensions, so nothing staged is ever merged.
 */
export const EXTENSION_STAGING_DIR = '/var/lib/extensions/.staging';

/** The directory, inside the image, holding its one `extension-release.<NAME>` file. */
export const RELEASE_DIRS: Readonly<Record<ExtensionKind, string>> = {
  sysext: '/usr/lib/extension-release.d',
  confext: '/etc/extension-release.d',
};

export const RELEASE_PREFIX = 'extension-release.';

/** The merge tool and unit of each kind. */
export const MERGE_TOOLS: Readonly<Record<ExtensionKind, string>> = {
  sysext: 'systemd-sysext',
  confext: 'systemd-confext',
};

/** `os.sysexts` / `os.confexts`: the Host Configuration list of each kind. */
export const CONFIG_LISTS: Readonly<Record<ExtensionKind, 'sysexts' | 'confexts'>> = {
  sysext: 'sysexts',
  confext: 'confexts',
};

/** The staged file of an image whose SHA-384 was checked. */
export function stagedFile(sha384: string): string {
  return posix.join(EXTENSION_STAGING_DIR, `${sha384.toLowerCase()}.raw`);
}
