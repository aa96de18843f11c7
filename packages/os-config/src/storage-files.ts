/**
 * The storage subsystem's Configure step (upstream `subsystems/storage/mod.rs`): `/etc/fstab`,
 * `/etc/crypttab` and `/etc/mdadm/mdadm.conf` of the new root, so the installed OS mounts, unlocks
 * and assembles what install laid out.
 */
import { isExecError } from '@trident/exec';
import { CRYPTTAB_PATH, renderCrypttab } from './crypttab.ts';
import { OsConfigError, reason } from './errors.ts';
import { FSTAB_PATH, renderFstab } from './fstab.ts';
import { removeFileInRoot, writeFileInRoot } from './root-files.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';

/** Upstream writes this path on every distribution; it is also Debian's. */
export const MDADM_CONF_PATH = '/etc/mdadm/mdadm.conf';

export async function writeFstab(ctx: StepContext): Promise<StepOutcome> {
  const text = renderFstab(ctx.config, ctx.layout);
  try {
    await writeFileInRoot(ctx.root, FSTAB_PATH, text, 0o644);
  } catch (error) {
    throw new OsConfigError(
      'OS_CONFIG_FSTAB',
      `cannot write ${FSTAB_PATH} in ${ctx.root}: ${reason(error)}`,
      {
        cause: error,
      },
    );
  }
  return done(
    `wrote ${FSTAB_PATH} (${text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length} entries)`,
  );
}

export async function writeCrypttab(ctx: StepContext): Promise<StepOutcome> {
  const text = renderCrypttab(ctx.config, ctx.layout);
  if (text === undefined) return skipped('no storage.encryption');
  try {
    if (text === '') {
      const removed = await removeFileInRoot(ctx.root, CRYPTTAB_PATH);
      return done(removed ? `removed ${CRYPTTAB_PATH}: no encrypted volumes` : 'no encrypted volumes');
    }
    await writeFileInRoot(ctx.root, CRYPTTAB_PATH, text, 0o644);
  } catch (error) {
    throw new OsConfigError(
      'OS_CONFIG_CRYPTTAB',
      `cannot write ${CRYPTTAB_PATH} in ${ctx.root}: ${reason(error)}`,
      {
        cause: error,
      },
    );
  }
  return done(`wrote ${CRYPTTAB_PATH} (${ctx.config.storage.encryption?.volumes.length} volumes)`);
}

/**
 * Upstream records the arrays as `mdadm --examine --scan` sees their superblocks, run in the new
 * root (with the chroot's /dev), so the installed OS assembles them by UUID at boot.
 */
export async function writeMdadmConf(ctx: StepContext): Promise<StepOutcome> {
  const arrays = ctx.config.storage.raid.software;
  if (arrays.length === 0) return skipped('no storage.raid.software arrays');
  let scan: string;
  try {
    scan = (await ctx.inRoot('mdadm', ['--examine', '--scan'])).stdout;
  } catch (error) {
    const what = isExecError(error, 'EXEC_MISSING_BINARY')
      ? 'mdadm is not installed in the new OS, which could then not assemble its RAID arrays'
      : reason(error);
    throw new OsConfigError('OS_CONFIG_MDADM_CONF', `cannot write ${MDADM_CONF_PATH}: ${what}`, {
      cause: error,
    });
  }
  // Upstream writes whatever the scan printed; an empty scan means the arrays would not assemble at
  // boot, so it is an error here rather than an empty file.
  if (!/^ARRAY /mu.test(scan))
    throw new OsConfigError(
      'OS_CONFIG_MDADM_CONF',
      `cannot write ${MDADM_CONF_PATH}: 'mdadm --examine --scan' in ${ctx.root} found no RAID superblock, yet storage.raid lists ${arrays.map((a) => `'${a.name}'`).join(', ')}; are the members visible in the chroot's /dev?`,
    );
  try {
    await writeFileInRoot(ctx.root, MDADM_CONF_PATH, scan, 0o644);
  } catch (error) {
    throw new OsConfigError('OS_CONFIG_MDADM_CONF', `cannot write ${MDADM_CONF_PATH}: ${reason(error)}`, {
      cause: error,
    });
  }
  return done(
    `wrote ${MDADM_CONF_PATH} (${scan.split('\n').filter((l) => l.startsWith('ARRAY ')).length} arrays)`,
  );
}
