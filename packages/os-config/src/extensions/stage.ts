/**
 * Stage (upstream Prepare/Provision of `subsystems/extensions/`, reference servicing.md §10): make
 * every extension image of a Host Configuration available in a root and learn what it is. An image
 * already on the host (same SHA-384 in the current configuration, at its recorded path) is used
 * where it is; a verified `<sha384>.raw` from an earlier stage is used as is; an image another root
 * holds (an A/B update's running OS) is copied through the same verified pipeline; anything else is
 * downloaded. Each image's release file then gives its ID and NAME, and so its final path.
 */
import { posix } from 'node:path';
import type { OpenSourceOptions } from '@trident/remote-source';
import { OsConfigError } from '../errors.ts';
import { existsInRoot, resolveInRoot } from '../root-files.ts';
import { downloadExtension } from './download.ts';
import { readExtensionRelease } from './inspect.ts';
import {
  CONFIG_LISTS,
  DEFAULT_EXTENSION_DIRS,
  EXTENSION_STAGING_DIR,
  type ExtensionKind,
  stagedFile,
} from './paths.ts';

/** One `os.sysexts[]` / `os.confexts[]` entry, as the Host Configuration has it. */
export interface ExtensionEntry {
  url: string;
  sha384: string;
  path?: string | undefined;
}

/** The two lists of a Host Configuration's `os` (parsed or as the stored document). */
export interface ExtensionLists {
  sysexts?: readonly ExtensionEntry[] | undefined;
  confexts?: readonly ExtensionEntry[] | undefined;
}

export interface StagedExtension {
  kind: ExtensionKind;
  url: string;
  sha384: string;
  /** `SYSEXT_ID` / `CONFEXT_ID`. */
  id: string;
  /** NAME of its `extension-release.<NAME>`. */
  name: string;
  /** Its final path in the root: the declared `path`, else `<default dir>/<NAME>.raw`. */
  path: string;
  /** Where its bytes are now, in the root: already at `path`, or the staged `<sha384>.raw`. */
  from: string;
}

export interface StageOptions {
  /** The configuration the root runs now: its images (with their recorded paths) are reused. */
  current?: ExtensionLists | undefined;
  /** Another root holding images by hash (A/B update: the running OS, `/`). */
  reuseFrom?: { root: string; lists: ExtensionLists } | undefined;
  source?: OpenSourceOptions | undefined;
  signal?: AbortSignal | undefined;
  log?: ((level: 'debug' | 'info' | 'warn', message: string) => void) | undefined;
}

export const EXTENSION_KINDS: readonly ExtensionKind[] = ['sysext', 'confext'];

/** The entries of one kind, normalised (lower-case hash). */
export function entriesOf(lists: ExtensionLists | undefined, kind: ExtensionKind): ExtensionEntry[] {
  return (lists?.[CONFIG_LISTS[kind]] ?? []).map((e) => ({ ...e, sha384: e.sha384.toLowerCase() }));
}

function recordedPath(
  lists: ExtensionLists | undefined,
  kind: ExtensionKind,
  sha384: string,
): string | undefined {
  return entriesOf(lists, kind).find((e) => e.sha384 === sha384 && e.path !== undefined)?.path;
}

async function bring(
  root: string,
  kind: ExtensionKind,
  entry: ExtensionEntry,
  options: StageOptions,
): Promise<string> {
  const current = recordedPath(options.current, kind, entry.sha384);
  if (current !== undefined && (await existsInRoot(root, current))) return current;
  const staged = stagedFile(entry.sha384);
  if (await existsInRoot(root, staged)) return staged;
  const stagingDir = await resolveInRoot(root, EXTENSION_STAGING_DIR);
  const other = options.reuseFrom && recordedPath(options.reuseFrom.lists, kind, entry.sha384);
  if (options.reuseFrom && other !== undefined && (await existsInRoot(options.reuseFrom.root, other))) {
    const file = await resolveInRoot(options.reuseFrom.root, other);
    options.log?.(
      'info',
      `Copying ${kind} ${other} of the running OS (same SHA-384) into ${EXTENSION_STAGING_DIR}`,
    );
    await downloadExtension(file, entry.sha384, stagingDir, { signal: options.signal });
    return staged;
  }
  options.log?.('info', `Downloading ${kind} ${entry.url} into ${EXTENSION_STAGING_DIR}`);
  await downloadExtension(entry.url, entry.sha384, stagingDir, {
    source: options.source,
    signal: options.signal,
  });
  return staged;
}

function finalPath(kind: ExtensionKind, entry: ExtensionEntry, name: string): string {
  const file = `${name}.raw`;
  if (entry.path === undefined) return posix.join(DEFAULT_EXTENSION_DIRS[kind], file);
  if (posix.basename(entry.path) !== file)
    throw new OsConfigError(
      'OS_CONFIG_EXTENSION_PATH',
      `${kind} ${entry.url}: path '${entry.path}' must end in '${file}', the NAME of the image's extension-release.${name} (systemd merges an image only under that name)`,
    );
  return posix.normalize(entry.path);
}

/**
 * Makes every image of `target` available in `root` (a host path; `/` for the running OS) and
 * returns what each one is and where it goes. Nothing is moved into place here.
 */
export async function stageExtensions(
  root: string,
  target: ExtensionLists,
  options: StageOptions = {},
): Promise<StagedExtension[]> {
  const staged: StagedExtension[] = [];
  for (const kind of EXTENSION_KINDS) {
    for (const entry of entriesOf(target, kind)) {
      options.signal?.throwIfAborted();
      const from = await bring(root, kind, entry, options);
      const release = await readExtensionRelease(await resolveInRoot(root, from), kind, entry.url);
      const path = finalPath(kind, entry, release.name);
      const clash = staged.find((s) => (s.kind === kind && s.id === release.id) || s.path === path);
      if (clash)
        throw new OsConfigError(
          'OS_CONFIG_EXTENSION_DUPLICATE',
          clash.path === path
            ? `${kind} ${entry.url} and ${clash.kind} ${clash.url} would both be ${path}`
            : `${kind} ${entry.url} and ${clash.url} are the same extension (${kind === 'sysext' ? 'SYSEXT_ID' : 'CONFEXT_ID'}=${release.id})`,
        );
      staged.push({
        kind,
        url: entry.url,
        sha384: entry.sha384,
        id: release.id,
        name: release.name,
        path,
        from,
      });
      options.log?.('debug', `${kind} ${entry.url}: ${release.id} (${release.name}) goes to ${path}`);
    }
  }
  return staged;
}
