/**
 * Whether a Unified Kernel Image can boot the installed (or updated) volume as it is. A UKI carries
 * its command line in a signed `.cmdline` section; upstream Trident copies UKIs unchanged and only
 * selects which one boots, so one whose command line would need a change is refused with
 * `BOOTCFG_UKI_CMDLINE_EMBEDDED`, naming the file. Used by install (configure-systemd-boot.ts) and
 * by A/B update (volume-uki.ts) alike.
 */
import { peSections } from '@trident/cosi-format';
import { type BootTarget, composeCmdline, ROOT_SELECTION_ARGS } from '../cmdline/compose.ts';
import { argName, argValue, formatCmdline, parseCmdline, replaceArgs } from '../cmdline/kernel-cmdline.ts';
import { BootConfigError } from '../errors.ts';
import type { EspVolume } from '../esp/esp-volume.ts';

/**
 * The embedded command line of a UKI (`''` when it has no `.cmdline`), or undefined when the file
 * is not a UKI (no `.linux` section: an EFI shell or a memory tester behind an `efi` entry).
 */
export function ukiCmdline(bytes: Uint8Array): string | undefined {
  const sections = peSections(bytes);
  if (!sections.has('.linux')) return undefined;
  const cmdline = sections.get('.cmdline');
  return cmdline === undefined ? '' : new TextDecoder().decode(cmdline).replace(/\0+$/u, '').trim();
}

/**
 * `root=UUID=<uuid>` naming the filesystem written to the target's root. The image's bytes are
 * streamed unchanged, so the installed or updated root keeps the UUID the COSI records; A and B
 * hold different builds, so the UUID tells them apart (an update refuses equal UUIDs). A verity
 * root is opened as /dev/mapper/root and never named by UUID.
 */
function namesRootFilesystem(current: readonly string[], target: BootTarget): string | undefined {
  const root = argValue(current, 'root');
  if (root === undefined || target.rootFsUuid === undefined || target.root.kind === 'verity')
    return undefined;
  return root.toLowerCase() === `uuid=${target.rootFsUuid.toLowerCase()}` ? root : undefined;
}

/**
 * A UKI passes when what it embeds already agrees with the target layout: when it names its root
 * (`root=`, verity devices) those must be the target's (`root=UUID=` of the target's root
 * filesystem included); when it names none, systemd finds the root by partition type (gpt-auto),
 * which installation keeps. Extra arguments cannot be added to it. SELinux is not checked: for
 * UKIs upstream sets the mode in /etc/selinux/config only. Returns false when the file is no UKI.
 */
export function checkUkiCmdline(
  volume: EspVolume,
  path: string,
  bytes: Uint8Array,
  target: BootTarget,
): boolean {
  const embedded = ukiCmdline(bytes);
  if (embedded === undefined) return false;
  const current = parseCmdline(embedded, `${volume.location}:${path} .cmdline`);
  const refuse = (what: string) =>
    new BootConfigError(
      'BOOTCFG_UKI_CMDLINE_EMBEDDED',
      `${volume.location}:${path} is a Unified Kernel Image with the command line ${JSON.stringify(embedded)} ` +
        `embedded; ${what}. A UKI is signed as a whole and upstream Trident never rewrites one (it only ` +
        'selects UKIs, and adds pre-signed verity addons on Azure Container Linux). Build the UKI to find its ' +
        'root by partition type (no root=) or by the UUID of the root filesystem image, or use type #1 entries.',
      { path },
    );
  if (current.some((a) => ROOT_SELECTION_ARGS.includes(argName(a)))) {
    let wanted = composeCmdline(current, {
      root: target.root,
      ...(target.usrVerity === undefined ? {} : { usrVerity: target.usrVerity }),
    });
    // The root named by its filesystem UUID is the target's own: keep that form, check the rest.
    const byUuid = namesRootFilesystem(current, target);
    if (byUuid !== undefined) wanted = replaceArgs(wanted, ['root'], [`root=${byUuid}`]);
    if (formatCmdline(wanted) !== formatCmdline(current))
      throw refuse(`the target layout needs ${JSON.stringify(formatCmdline(wanted))}`);
  }
  const extra = (target.extraCommandLine ?? [])
    .flatMap((e) => parseCmdline(e, 'os.kernelCommandLine.extraCommandLine'))
    .filter((a) => !current.includes(a));
  if (extra.length > 0)
    throw refuse(`os.kernelCommandLine.extraCommandLine (${extra.join(' ')}) cannot be added to it`);
  return true;
}
