/**
 * Edits of grub configuration text, as upstream Trident makes them:
 *
 * - the `linux` lines of the OS's grub.cfg get the installed layout's command line (upstream
 *   regenerates the file with grub2-mkconfig from /etc/default/grub on Azure Linux 3 only, and
 *   refuses other distributions; we edit the generated lines in place, which works for any
 *   grub-mkconfig output and for hand-written files);
 * - the `search` line of the ESP's grub.cfg is pointed at the filesystem UUID of the volume holding
 *   /boot (upstream `GrubConfig::update_search`: `search -n -u <uuid> -s` or
 *   `search --no-floppy --fs-uuid --set=root <uuid>`).
 */
import { type BootTarget, composeCmdline } from '../cmdline/compose.ts';
import { formatCmdline, parseCmdline } from '../cmdline/kernel-cmdline.ts';
import { BootConfigError } from '../errors.ts';

const LINUX_LINE = /^(\s*)(linux|linuxefi|linux16)(\s+)(\S+)(.*)$/u;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^[0-9A-F]{4}-[0-9A-F]{4}$/iu;

/** A recovery entry (grub-mkconfig's "recovery mode"): no GRUB_CMDLINE_LINUX_DEFAULT there. */
function isRecovery(args: readonly string[]): boolean {
  return args.some(
    (a) => a === 'single' || a === 'systemd.unit=rescue.target' || a === 'systemd.unit=emergency.target',
  );
}

export interface GrubCfgEdit {
  text: string;
  /** Number of `linux` lines rewritten (changed or not). */
  linuxLines: number;
}

/**
 * Every `linux` line gets the command line for `target`. Extra arguments
 * (`os.kernelCommandLine.extraCommandLine`) go to normal entries only, as grub-mkconfig places
 * GRUB_CMDLINE_LINUX_DEFAULT, where upstream puts them.
 */
export function rewriteGrubLinuxLines(text: string, path: string, target: BootTarget): GrubCfgEdit {
  let linuxLines = 0;
  const lines = text.split('\n').map((line, index) => {
    const match = LINUX_LINE.exec(line);
    if (match === null) return line;
    linuxLines++;
    const [, indent, command, space, kernel, rest] = match as unknown as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const args = parseCmdline(rest, `${path} line ${index + 1}`);
    const forLine = isRecovery(args) ? { ...target, extraCommandLine: [] } : target;
    const composed = formatCmdline(composeCmdline(args, forLine));
    return `${indent}${command}${space}${kernel}${composed === '' ? '' : ` ${composed}`}`;
  });
  if (linuxLines === 0)
    throw new BootConfigError(
      'BOOTCFG_CONFIG_INVALID',
      `${path} has no "linux" line: nothing boots a kernel from it`,
      { path },
    );
  return { text: lines.join('\n'), linuxLines };
}

/**
 * Points the first-stage `search` of an ESP grub.cfg at `uuid` (the filesystem holding /boot).
 * Upstream's two forms are accepted; a file with neither is an error, as upstream's.
 */
export function updateGrubSearch(text: string, path: string, uuid: string): string {
  if (!UUID.test(uuid))
    throw new BootConfigError('BOOTCFG_CONFIG_INVALID', `${JSON.stringify(uuid)} is not a filesystem UUID`, {
      path,
    });
  const short = /^([ \t]*)search -n -u [\w-]+ -s[ \t]*$/mu;
  const long = /^([ \t]*)search --no-floppy --fs-uuid --set=root [\w-]+[ \t]*$/mu;
  if (short.test(text)) return text.replace(short, `$1search -n -u ${uuid} -s`);
  if (long.test(text)) return text.replace(long, `$1search --no-floppy --fs-uuid --set=root ${uuid}`);
  throw new BootConfigError(
    'BOOTCFG_CONFIG_INVALID',
    `${path} has no "search -n -u <uuid> -s" or "search --no-floppy --fs-uuid --set=root <uuid>" line to point at /boot`,
    { path },
  );
}

/**
 * Replaces filesystem UUIDs that the installation changed (`new` filesystems get fresh ones) in
 * `search` commands and `UUID=` references, leaving everything else alone.
 */
export function replaceFsUuids(text: string, changes: Readonly<Record<string, string>>): string {
  let out = text;
  for (const [from, to] of Object.entries(changes)) {
    if (!UUID.test(from) || !UUID.test(to))
      throw new BootConfigError(
        'BOOTCFG_CONFIG_INVALID',
        `filesystem UUID change ${from} → ${to} is not UUID to UUID`,
      );
    // Checked above: hex digits and dashes only, nothing a regular expression would read.
    out = out
      .replace(new RegExp(`^(\\s*search\\b[^\\n]*?)\\b${from}\\b`, 'gimu'), `$1${to}`)
      .replace(new RegExp(`\\bUUID=${from}\\b`, 'giu'), `UUID=${to}`);
  }
  return out;
}
