/**
 * SELinux relabelling of the new root (upstream `subsystems/selinux.rs`, the last subsystem, after
 * the initrd is rebuilt). The final mode comes from the Host Configuration, else from the image:
 *
 * | HC \ image  | no config   | disabled | permissive | enforcing |
 * |-------------|-------------|----------|------------|-----------|
 * | unset       | none        | disabled | permissive | enforcing |
 * | disabled    | none        | disabled | disabled   | disabled  |
 * | permissive  | refused     | permissive | permissive | permissive |
 * | enforcing   | refused     | enforcing | enforcing | enforcing |
 *
 * Unless the result is none or disabled, the new OS's `setfiles` labels every mounted, writable
 * ext4/xfs filesystem with the policy's file contexts. Enforcing is refused with a verity root
 * (non-UKI) or with sysexts/confexts; permissive there only warns.
 */
import { findProgram } from '@trident/exec';
import { isReadOnly } from '@trident/host-config';
import { OsConfigError, reason } from './errors.ts';
import { rootIsVerity } from './fstab.ts';
import { readFileInRoot } from './root-files.ts';
import { SELINUX_CONFIG } from './selinux.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';

type Mode = 'disabled' | 'permissive' | 'enforcing';
const MODES: readonly string[] = ['disabled', 'permissive', 'enforcing'];
/** Filesystems that carry SELinux labels, among those Trident creates or writes. */
const LABELLED_TYPES = new Set(['ext4', 'xfs']);

/** The table above; `undefined` is "not present". */
export function finalSelinuxMode(hc: Mode | undefined, image: Mode | undefined): Mode | undefined {
  if (hc === undefined) return image;
  if (hc === 'disabled') return image === undefined ? undefined : 'disabled';
  if (image === undefined)
    throw new OsConfigError(
      'OS_CONFIG_SELINUX_NOT_FOUND',
      `os.selinux.mode is ${hc}, but the new OS has no SELinux (${SELINUX_CONFIG} not found)`,
    );
  return hc;
}

export async function relabelSelinux(ctx: StepContext, bootKind: string | undefined): Promise<StepOutcome> {
  const config = await readFileInRoot(ctx.root, SELINUX_CONFIG);
  const image = config === undefined ? undefined : configValue(config, 'SELINUX');
  if (image !== undefined && !MODES.includes(image))
    throw new OsConfigError(
      'OS_CONFIG_SELINUX',
      `${SELINUX_CONFIG} of the new OS says SELINUX=${image}, which is no mode`,
    );
  const mode = finalSelinuxMode(ctx.config.os.selinux.mode, image as Mode | undefined);
  if (mode === undefined) return skipped('the new OS has no SELinux');
  if (mode === 'disabled') return skipped('SELinux is disabled');
  if ((await findProgram('setfiles', ctx.root)) === undefined)
    throw new OsConfigError(
      'OS_CONFIG_SELINUX_NOT_FOUND',
      `SELinux ends up ${mode}, but the new OS has no 'setfiles' to label its files (install policycoreutils in the image)`,
    );
  const conflicts = [
    rootIsVerity(ctx.config) && bootKind !== 'uki' ? 'a verity root' : '',
    ctx.config.os.sysexts.length + ctx.config.os.confexts.length > 0 ? 'sysexts or confexts' : '',
  ].filter((c) => c !== '');
  for (const conflict of conflicts) {
    if (mode === 'enforcing')
      throw new OsConfigError(
        'OS_CONFIG_SELINUX_UNSUPPORTED',
        `SELinux enforcing is not supported with ${conflict}; use permissive or disabled`,
      );
    ctx.log('warn', 'selinux-relabel', `SELinux with ${conflict} is not supported; the mode is ${mode}`);
  }
  const type = config === undefined ? undefined : configValue(config, 'SELINUXTYPE');
  if (type === undefined)
    throw new OsConfigError('OS_CONFIG_SELINUX', `${SELINUX_CONFIG} of the new OS has no SELINUXTYPE line`);
  const targets = mountsToRelabel(ctx);
  if (targets.length === 0) return skipped('no mounted, writable ext4 or xfs filesystem to label');
  try {
    await ctx.inRoot('setfiles', ['-m', `/etc/selinux/${type}/contexts/files/file_contexts`, ...targets]);
  } catch (error) {
    throw new OsConfigError(
      'OS_CONFIG_SELINUX',
      `relabelling ${targets.join(' ')} failed: ${reason(error)}`,
      {
        cause: error,
      },
    );
  }
  return done(`labelled ${targets.join(' ')} (${mode}, policy ${type})`);
}

function configValue(text: string, key: string): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${key}=`));
  return line?.slice(key.length + 1).trim();
}

function mountsToRelabel(ctx: StepContext): string[] {
  const out: string[] = [];
  for (const fs of ctx.config.storage.filesystems) {
    if (fs.mountPoint === undefined || isReadOnly(fs.mountPoint.options)) continue;
    const type = fs.source === 'image' ? ctx.layout.imageFilesystemTypes?.[fs.mountPoint.path] : fs.type;
    if (type !== undefined && LABELLED_TYPES.has(type)) out.push(fs.mountPoint.path);
  }
  return out;
}
