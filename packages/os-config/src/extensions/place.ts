/**
 * Placement (upstream Provision for install/A/B, live Configure for a runtime update; reference
 * servicing.md §10): staged images move to their final paths, and images of the current
 * configuration that the target no longer has leave theirs. Nothing is deleted here: a removed
 * image goes back to the staging directory as `<sha384>.raw`, so re-applying the old configuration
 * (a runtime update's auto-rollback) finds it without a download; `cleanExtensionStaging` drops the
 * staging directory once the servicing succeeded.
 */
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { runTool } from '@trident/exec';
import { OsConfigError, reason } from '../errors.ts';
import { existsInRoot, resolveInRoot } from '../root-files.ts';
import { EXTENSION_STAGING_DIR, type ExtensionKind, MERGE_TOOLS, stagedFile } from './paths.ts';
import { EXTENSION_KINDS, type ExtensionLists, entriesOf, type StagedExtension } from './stage.ts';

export interface Placement {
  /** Final paths that got an image. */
  placed: string[];
  /** Paths whose image the target configuration no longer has. */
  removed: string[];
  /** Kinds whose set of images changed: the ones to refresh on a running OS. */
  changed: ExtensionKind[];
}

async function move(root: string, from: string, to: string): Promise<void> {
  const source = await resolveInRoot(root, from);
  const target = await resolveInRoot(root, to);
  await mkdir(dirname(target), { recursive: true, mode: 0o755 });
  try {
    await rename(source, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    // Declared paths may sit on another filesystem than /var (e.g. /etc/extensions).
    await copyFile(source, `${target}.trident-new`);
    await rename(`${target}.trident-new`, target);
    await rm(source);
  }
}

/** Moves the images of `staged` into place in `root`; `current` is what the root had configured. */
export async function placeExtensions(
  root: string,
  staged: readonly StagedExtension[],
  current: ExtensionLists | undefined,
): Promise<Placement> {
  const placement: Placement = { placed: [], removed: [], changed: [] };
  const changed = new Set<ExtensionKind>();
  try {
    for (const kind of EXTENSION_KINDS)
      for (const entry of entriesOf(current, kind)) {
        if (entry.path === undefined) continue;
        if (staged.some((s) => s.kind === kind && s.sha384 === entry.sha384 && s.path === entry.path))
          continue;
        if (!(await existsInRoot(root, entry.path))) continue;
        const parked = stagedFile(entry.sha384);
        if (await existsInRoot(root, parked)) await rm(await resolveInRoot(root, entry.path));
        else await move(root, entry.path, parked);
        placement.removed.push(entry.path);
        changed.add(kind);
      }
    for (const image of staged) {
      if (image.from === image.path && (await existsInRoot(root, image.path))) continue;
      const from = (await existsInRoot(root, image.from)) ? image.from : stagedFile(image.sha384);
      await move(root, from, image.path);
      placement.placed.push(image.path);
      changed.add(image.kind);
    }
  } catch (error) {
    if (error instanceof OsConfigError) throw error;
    throw new OsConfigError(
      'OS_CONFIG_EXTENSION_PLACE',
      `placing extension images in ${root} failed: ${reason(error)}`,
      {
        cause: error,
      },
    );
  }
  placement.changed = EXTENSION_KINDS.filter((k) => changed.has(k));
  return placement;
}

/** Drops the staging directory (upstream's clean-up step). */
export async function cleanExtensionStaging(root: string): Promise<void> {
  await rm(await resolveInRoot(root, EXTENSION_STAGING_DIR), { recursive: true, force: true });
}

/**
 * `systemd-sysext refresh` / `systemd-confext refresh` on the running OS for each kind whose images
 * changed: unmerges and merges again, so /usr and /opt (or /etc) show the new set.
 */
export async function refreshExtensions(
  kinds: readonly ExtensionKind[],
  options: { signal?: AbortSignal | undefined } = {},
): Promise<string[]> {
  const ran: string[] = [];
  for (const kind of kinds) {
    const tool = MERGE_TOOLS[kind];
    try {
      await runTool(tool, ['refresh'], { signal: options.signal });
    } catch (error) {
      throw new OsConfigError('OS_CONFIG_EXTENSION_MERGE', `${tool} refresh failed: ${reason(error)}`, {
        cause: error,
      });
    }
    ran.push(`${tool} refresh`);
  }
  return ran;
}

/**
 * The Host Configuration document with each image's final path filled in (upstream's "update Host
 * Configuration" step): the stored spec then says where every image is, which the next servicing
 * reuses. Matched by kind and SHA-384; other fields are left as the user wrote them.
 */
export function withExtensionPaths<T>(document: T, staged: readonly StagedExtension[]): T {
  const copy = structuredClone(document) as { os?: Record<string, unknown> };
  for (const kind of EXTENSION_KINDS) {
    const list = copy.os?.[kind === 'sysext' ? 'sysexts' : 'confexts'];
    if (!Array.isArray(list)) continue;
    for (const entry of list as Array<{ sha384?: string; path?: string }>) {
      const image = staged.find((s) => s.kind === kind && s.sha384 === entry.sha384?.toLowerCase());
      if (image) entry.path = image.path;
    }
  }
  return copy as T;
}
