/**
 * A runtime update's Configure on the running OS (upstream `engine/runtime_update.rs` finalize with
 * the network, os-config and extensions subsystems; reference servicing.md §10): the only parts of
 * a Host Configuration that change without a reboot. Extension images move into place (removed
 * ones are parked in the staging directory), `systemd-sysext`/`systemd-confext` are enabled when a
 * kind first appears, each kind whose images changed is refreshed, and a changed `os.netplan` is
 * written, generated and applied. The engine records the outcome and re-runs this with the old
 * configuration when anything fails (auto-rollback).
 *
 * `root` is `/` on a host. A directory tree instead (tests, an offline root) gets the files and the
 * enabled units; the live steps (refresh, `netplan apply`) need the OS running there and are left to
 * its next boot, which merges and configures from those files anyway.
 */
import { runTool } from '@trident/exec';
import type { OpenSourceOptions } from '@trident/remote-source';
import { OsConfigError, reason } from './errors.ts';
import { type ExtensionKind, MERGE_TOOLS } from './extensions/paths.ts';
import { placeExtensions, refreshExtensions } from './extensions/place.ts';
import {
  EXTENSION_KINDS,
  type ExtensionLists,
  entriesOf,
  type StagedExtension,
  stageExtensions,
} from './extensions/stage.ts';
import { NETPLAN_FILE, renderNetplan } from './netplan.ts';
import { readFileInRoot, writeFileInRoot } from './root-files.ts';
import type { Config, OsConfigLog } from './types.ts';

export interface RuntimeApplyOptions {
  /** The running OS's root: `/` on a host. */
  root?: string | undefined;
  source?: OpenSourceOptions | undefined;
  signal?: AbortSignal | undefined;
  onLog?: ((log: OsConfigLog) => void) | undefined;
}

export interface RuntimeApplied {
  /** Every configured image, with its final path (for the recorded spec). */
  staged: StagedExtension[];
  placed: string[];
  removed: string[];
  /** What ran on the live OS: `systemctl enable …`, `systemd-sysext refresh`, `netplan apply`. */
  actions: string[];
}

/**
 * Stage only: every image of `target` downloaded (or found) and inspected, nothing moved. `current`
 * is the configuration the host runs, whose images are reused by hash.
 */
export async function stageRuntimeExtensions(
  target: Pick<Config, 'os'>,
  current: ExtensionLists | undefined,
  options: RuntimeApplyOptions = {},
): Promise<StagedExtension[]> {
  return stageExtensions(options.root ?? '/', target.os, {
    current,
    source: options.source,
    signal: options.signal,
    log: (level, message) => options.onLog?.({ level, source: 'extensions', message }),
  });
}

async function enableMergeUnits(
  root: string,
  target: ExtensionLists,
  current: ExtensionLists | undefined,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const actions: string[] = [];
  for (const kind of EXTENSION_KINDS) {
    // Upstream enables the services only when extensions first appear.
    if (entriesOf(target, kind).length === 0 || entriesOf(current, kind).length > 0) continue;
    const unit = `${MERGE_TOOLS[kind]}.service`;
    const args = root === '/' ? ['enable', unit] : ['--root', root, 'enable', unit];
    try {
      await runTool('systemctl', args, { signal });
    } catch (error) {
      throw new OsConfigError(
        'OS_CONFIG_SERVICES',
        `cannot enable ${unit} (needed to merge ${kind}s at boot): ${reason(error)}`,
        {
          cause: error,
        },
      );
    }
    actions.push(`systemctl enable ${unit}`);
  }
  return actions;
}

async function applyNetplan(
  root: string,
  target: Config,
  current: Config | undefined,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const netplan = target.os.netplan;
  // Upstream's network subsystem does nothing without os.netplan.
  if (netplan === undefined) return [];
  const text = renderNetplan(netplan);
  const before = await readFileInRoot(root, NETPLAN_FILE);
  if (current?.os.netplan !== undefined && before === text) return [];
  try {
    await writeFileInRoot(root, NETPLAN_FILE, text, 0o600);
  } catch (error) {
    throw new OsConfigError('OS_CONFIG_NETPLAN_WRITE', `cannot write ${NETPLAN_FILE}: ${reason(error)}`, {
      cause: error,
    });
  }
  if (root !== '/') return [`wrote ${NETPLAN_FILE}`];
  try {
    await runTool('netplan', ['generate'], { signal });
  } catch (error) {
    throw new OsConfigError('OS_CONFIG_NETPLAN_GENERATE', `netplan generate failed: ${reason(error)}`, {
      cause: error,
    });
  }
  try {
    await runTool('netplan', ['apply'], { signal });
  } catch (error) {
    throw new OsConfigError('OS_CONFIG_NETPLAN_APPLY', `netplan apply failed: ${reason(error)}`, {
      cause: error,
    });
  }
  return [`wrote ${NETPLAN_FILE}`, 'netplan generate', 'netplan apply'];
}

/**
 * The extensions half of a runtime Configure (os-config's merge units, then the extensions
 * subsystem): merge units enabled when a kind first appears, images placed, changed kinds
 * refreshed. `current` carries the running images' recorded paths. A manual runtime rollback calls
 * this with the rollback target as `target`.
 */
export async function applyRuntimeExtensions(
  target: Pick<Config, 'os'>,
  current: Pick<Config, 'os'> | undefined,
  options: RuntimeApplyOptions = {},
): Promise<RuntimeApplied> {
  const root = options.root ?? '/';
  const log = (level: OsConfigLog['level'], source: string, message: string) =>
    options.onLog?.({ level, source, message });
  const actions = await enableMergeUnits(root, target.os, current?.os, options.signal);
  const staged = await stageRuntimeExtensions(target, current?.os, options);
  const placement = await placeExtensions(root, staged, current?.os);
  for (const path of placement.removed)
    log('info', 'extensions', `removed ${path} (parked in the staging directory)`);
  for (const path of placement.placed) log('info', 'extensions', `placed ${path}`);
  const refresh: ExtensionKind[] = placement.changed;
  if (root === '/') actions.push(...(await refreshExtensions(refresh, { signal: options.signal })));
  else if (refresh.length > 0)
    log('info', 'extensions', `${root} is not the running OS: its next boot merges the images`);
  return { staged, placed: placement.placed, removed: placement.removed, actions };
}

/**
 * Applies `target` to the running OS whose current configuration is `current` (its extension
 * entries with their recorded paths). Order as upstream's subsystems: network, os-config (merge
 * units), extensions.
 */
export async function applyRuntimeConfiguration(
  target: Config,
  current: Config | undefined,
  options: RuntimeApplyOptions = {},
): Promise<RuntimeApplied> {
  const netplan = await applyNetplan(options.root ?? '/', target, current, options.signal);
  const applied = await applyRuntimeExtensions(target, current, options);
  return { ...applied, actions: [...netplan, ...applied.actions] };
}
