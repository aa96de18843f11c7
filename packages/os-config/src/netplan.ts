/**
 * `os.netplan` (upstream `subsystems/network.rs`, `osutils/src/netplan.rs`): the configuration,
 * wrapped as `network:`, goes to `/etc/netplan/99-trident.yaml` with mode 0600 (it may hold Wi-Fi
 * secrets), then the new OS's `netplan generate` runs in the chroot to check it and render the
 * backend files. Top-level keys Trident's netplan model does not have are dropped, as upstream's
 * model drops them (host-config warns about them). When the image has cloud-init, its network
 * configuration is turned off so it cannot fight Trident's.
 */
import { isExecError } from '@trident/exec';
import { isNetplanKey, NETPLAN_DEVICE_SECTIONS } from '@trident/host-config';
import { stringify } from 'yaml';
import { OsConfigError, reason } from './errors.ts';
import { existsInRoot, writeFileInRoot } from './root-files.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';

export const NETPLAN_FILE = '/etc/netplan/99-trident.yaml';
export const CLOUD_INIT_CONFIG_DIR = '/etc/cloud/cloud.cfg.d';
export const CLOUD_INIT_DISABLE_FILE = `${CLOUD_INIT_CONFIG_DIR}/99-use-trident-networking.cfg`;

export function renderNetplan(netplan: Readonly<Record<string, unknown>>): string {
  // The model's field order: version, renderer, then the device sections.
  const ordered: Record<string, unknown> = {};
  for (const key of ['version', 'renderer', ...NETPLAN_DEVICE_SECTIONS])
    if (isNetplanKey(key) && netplan[key] !== undefined) ordered[key] = netplan[key];
  return stringify({ network: ordered });
}

export async function writeNetplan(ctx: StepContext): Promise<StepOutcome> {
  const netplan = ctx.config.os.netplan;
  if (netplan === undefined) return skipped('no os.netplan');
  const dropped = Object.keys(netplan).filter((k) => !isNetplanKey(k));
  if (dropped.length > 0)
    ctx.log('warn', 'netplan', `dropped netplan keys Trident does not read: ${dropped.join(', ')}`);
  try {
    await writeFileInRoot(ctx.root, NETPLAN_FILE, renderNetplan(netplan), 0o600);
  } catch (error) {
    throw new OsConfigError('OS_CONFIG_NETPLAN_WRITE', `cannot write ${NETPLAN_FILE}: ${reason(error)}`, {
      cause: error,
    });
  }
  try {
    await ctx.inRoot('netplan', ['generate']);
  } catch (error) {
    const why = isExecError(error, 'EXEC_MISSING_BINARY')
      ? 'the new OS has no netplan (install netplan.io in the image, or leave os.netplan out)'
      : reason(error);
    throw new OsConfigError(
      'OS_CONFIG_NETPLAN_GENERATE',
      `'netplan generate' failed in the new root: ${why}`,
      {
        cause: error,
      },
    );
  }
  let cloudInit = '';
  if (await existsInRoot(ctx.root, CLOUD_INIT_CONFIG_DIR)) {
    await writeFileInRoot(ctx.root, CLOUD_INIT_DISABLE_FILE, 'network: {config: disabled}', 0o644);
    cloudInit = '; cloud-init networking disabled';
  }
  return done(`wrote ${NETPLAN_FILE} and ran netplan generate${cloudInit}`);
}
