/**
 * The `extension-release.<NAME>` file of a sysext or confext (os-release(5) syntax): which file
 * counts and what it must say (upstream `subsystems/extensions/release.rs`). Exactly one file in the
 * kind's release directory, named `extension-release.<NAME>`, with `SYSEXT_ID` (sysext) or
 * `CONFEXT_ID` (confext). NAME also names the file on the host (`<NAME>.raw`), which is what
 * systemd-sysext checks when it merges.
 */
import { OsConfigError } from '../errors.ts';
import { type ExtensionKind, RELEASE_DIRS, RELEASE_PREFIX } from './paths.ts';

export interface ExtensionRelease {
  /** `SYSEXT_ID` / `CONFEXT_ID`: the identity of the extension (with its kind). */
  id: string;
  /** NAME of `extension-release.<NAME>`. */
  name: string;
  /** Every assignment of the file, quotes removed. */
  fields: Record<string, string>;
}

/** os-release(5): `KEY=value` lines, values optionally in single or double quotes, `#` comments. */
export function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\(["\\`$])/gu, '$1');
    }
    fields[key] = value;
  }
  return fields;
}

/**
 * Picks the release file among the entries of the kind's release directory and reads its identity.
 * `where` names the image for messages (its URL).
 */
export function extensionRelease(
  kind: ExtensionKind,
  entries: readonly string[],
  read: (entry: string) => string,
  where: string,
): ExtensionRelease {
  const dir = RELEASE_DIRS[kind];
  if (entries.length !== 1)
    throw new OsConfigError(
      'OS_CONFIG_EXTENSION_RELEASE',
      `${kind} image ${where}: expected exactly one extension-release file in ${dir}, found ${entries.length}${entries.length > 0 ? ` (${entries.join(', ')})` : ''}`,
    );
  const entry = entries[0]!;
  if (!entry.startsWith(RELEASE_PREFIX) || entry.length === RELEASE_PREFIX.length)
    throw new OsConfigError(
      'OS_CONFIG_EXTENSION_RELEASE',
      `${kind} image ${where}: ${dir}/${entry} is not named ${RELEASE_PREFIX}<NAME>`,
    );
  const name = entry.slice(RELEASE_PREFIX.length);
  const fields = parseOsRelease(read(entry));
  const idKey = kind === 'sysext' ? 'SYSEXT_ID' : 'CONFEXT_ID';
  const id = fields[idKey];
  if (id === undefined || id === '')
    throw new OsConfigError(
      'OS_CONFIG_EXTENSION_RELEASE',
      `${kind} image ${where}: ${dir}/${entry} has no ${idKey}=`,
    );
  return { id, name, fields };
}
