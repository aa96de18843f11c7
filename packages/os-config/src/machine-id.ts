/**
 * machine-id of the new root (upstream `subsystems/storage/verity.rs` `create_machine_id` and
 * `subsystems/osconfig/mod.rs` `provision`). A clean install keeps the image's file (an empty one
 * makes systemd generate an id at first boot) except with a verity root: `/etc` is then an overlay
 * whose lower layer is read-only, so the id is generated now with `systemd-firstboot --root` on the
 * servicing OS. An A/B update copies the running OS's id, so the host keeps its identity.
 */
import { copyFile } from 'node:fs/promises';
import { runTool } from '@trident/exec';
import { OsConfigError, reason } from './errors.ts';
import { rootIsVerity } from './fstab.ts';
import { removeFileInRoot, resolveInRoot } from './root-files.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';

export const MACHINE_ID_PATH = '/etc/machine-id';

export async function setUpMachineId(ctx: StepContext): Promise<StepOutcome> {
  if (ctx.servicingType === 'clean-install') {
    if (!rootIsVerity(ctx.config)) return skipped("the image's machine-id is kept (no verity root)");
    try {
      await removeFileInRoot(ctx.root, MACHINE_ID_PATH);
      await runTool('systemd-firstboot', ['--root', ctx.root, '--setup-machine-id'], { signal: ctx.signal });
    } catch (error) {
      throw new OsConfigError(
        'OS_CONFIG_MACHINE_ID',
        `cannot create a machine-id for the verity root in ${ctx.root}: ${reason(error)}`,
        { cause: error },
      );
    }
    return done(`generated ${MACHINE_ID_PATH} with systemd-firstboot (verity root)`);
  }
  if (ctx.servicingType === 'ab-update') {
    try {
      await copyFile(MACHINE_ID_PATH, await resolveInRoot(ctx.root, MACHINE_ID_PATH));
    } catch (error) {
      throw new OsConfigError(
        'OS_CONFIG_COPY_MACHINE_ID',
        `cannot copy ${MACHINE_ID_PATH} into ${ctx.root}: ${reason(error)}`,
        { cause: error },
      );
    }
    return done(`copied the running OS's ${MACHINE_ID_PATH}`);
  }
  return skipped(`nothing to do for ${ctx.servicingType}`);
}
