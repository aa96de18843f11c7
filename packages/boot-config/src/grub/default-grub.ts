/**
 * `/etc/default/grub` of the new root, kept in step with the grub.cfg we edit, so the installed
 * OS's own `update-grub`/`grub-mkconfig` (after a kernel upgrade) regenerates the same command
 * line. Upstream osmodifier's rules: the owned arguments (SELinux, verity, overlay) live in
 * GRUB_CMDLINE_LINUX, replaced by name; `extraCommandLine` is appended to GRUB_CMDLINE_LINUX_DEFAULT;
 * the root device is GRUB_DEVICE (for a verity root, `/dev/mapper/root`).
 */
import { type BootTarget, composeCmdline } from '../cmdline/compose.ts';
import { argName, formatCmdline, parseCmdline } from '../cmdline/kernel-cmdline.ts';
import { BootConfigError } from '../errors.ts';

function variable(lines: readonly string[], name: string): string | undefined {
  const line = lines.findLast((l) => l.trim().startsWith(`${name}=`));
  if (line === undefined) return undefined;
  const value = line.trim().slice(name.length + 1);
  return /^(["'])(.*)\1$/u.exec(value)?.[2] ?? value;
}

function setVariable(lines: string[], name: string, value: string): string[] {
  if (/["$`\\]/u.test(value))
    throw new BootConfigError(
      'BOOTCFG_CMDLINE_INVALID',
      `${name} value ${JSON.stringify(value)} cannot be quoted for /etc/default/grub`,
    );
  const index = lines.findLastIndex((l) => l.trim().startsWith(`${name}=`));
  const line = `${name}="${value}"`;
  if (index < 0) return [...lines, line];
  return lines.map((l, i) => (i === index ? line : l));
}

/** /etc/default/grub text updated for `target`; `root=` itself is not stored there (grub-mkconfig adds it). */
export function updateDefaultGrub(text: string, target: BootTarget): string {
  let lines = text.replace(/\n$/u, '').split('\n');
  const linux = parseCmdline(
    variable(lines, 'GRUB_CMDLINE_LINUX') ?? '',
    '/etc/default/grub GRUB_CMDLINE_LINUX',
  );
  // Everything but root= and the extras: grub-mkconfig writes root= from GRUB_DEVICE.
  const owned = composeCmdline(linux, { ...target, extraCommandLine: [] }).filter(
    (a) => argName(a) !== 'root',
  );
  lines = setVariable(lines, 'GRUB_CMDLINE_LINUX', formatCmdline(owned));
  const defaults = parseCmdline(
    variable(lines, 'GRUB_CMDLINE_LINUX_DEFAULT') ?? '',
    '/etc/default/grub GRUB_CMDLINE_LINUX_DEFAULT',
  );
  for (const extra of target.extraCommandLine ?? [])
    for (const arg of parseCmdline(extra, 'os.kernelCommandLine.extraCommandLine'))
      if (!defaults.includes(arg)) defaults.push(arg);
  lines = setVariable(lines, 'GRUB_CMDLINE_LINUX_DEFAULT', formatCmdline(defaults));
  const device =
    target.root.kind === 'verity'
      ? '/dev/mapper/root'
      : target.root.kind === 'device'
        ? target.root.path
        : `/dev/disk/by-partuuid/${target.root.partUuid.toLowerCase()}`;
  lines = setVariable(lines, 'GRUB_DEVICE', device);
  return `${lines.join('\n')}\n`;
}
