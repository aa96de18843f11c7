/**
 * The kernel command line as a list of arguments: split the way the kernel does (whitespace
 * outside double quotes, `key="a b"` is one argument), edited by argument name, joined back.
 */
import { BootConfigError } from '../errors.ts';

/** Splits a command line into arguments. An unbalanced double quote is an error, not a guess. */
export function parseCmdline(text: string, where = 'kernel command line'): string[] {
  const args: string[] = [];
  let current = '';
  let quoted = false;
  let started = false;
  for (const char of text) {
    if (char === '"') {
      quoted = !quoted;
      current += char;
      started = true;
    } else if (!quoted && /\s/u.test(char)) {
      if (started) args.push(current);
      current = '';
      started = false;
    } else {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
      if (/[\u0000-\u001f\u007f]/u.test(char))
        throw new BootConfigError(
          'BOOTCFG_CMDLINE_INVALID',
          `${where}: control character U+${char.codePointAt(0)!.toString(16).padStart(4, '0')} in ${JSON.stringify(text)}`,
        );
      current += char;
      started = true;
    }
  }
  if (quoted)
    throw new BootConfigError(
      'BOOTCFG_CMDLINE_INVALID',
      `${where}: unbalanced double quote in ${JSON.stringify(text)}`,
    );
  if (started) args.push(current);
  return args;
}

export function formatCmdline(args: readonly string[]): string {
  return args.join(' ');
}

/** The name of an argument: what comes before the first `=` (`root` of `root=PARTUUID=…`). */
export function argName(arg: string): string {
  const eq = arg.indexOf('=');
  return eq < 0 ? arg : arg.slice(0, eq);
}

/** The value of the last argument named `name` (the kernel and systemd take the last one). */
export function argValue(args: readonly string[], name: string): string | undefined {
  const found = args.findLast((a) => argName(a) === name);
  if (found === undefined) return undefined;
  const eq = found.indexOf('=');
  return eq < 0 ? '' : found.slice(eq + 1).replace(/^"(.*)"$/u, '$1');
}

/**
 * Removes every argument whose name is in `names` and puts `add` (in order) where the first of
 * them was, or at the end; everything else keeps its place. Upstream's rule for the arguments it
 * owns (osmodifier's update of GRUB_CMDLINE_LINUX) is the same minus the position: drop the old
 * values by name, append the new ones. Keeping the place keeps `root=` first, as images have it.
 */
export function replaceArgs(
  args: readonly string[],
  names: readonly string[],
  add: readonly string[],
): string[] {
  const drop = new Set(names);
  const at = args.findIndex((a) => drop.has(argName(a)));
  const kept = (list: readonly string[]) => list.filter((a) => !drop.has(argName(a)));
  if (at < 0) return [...args, ...add];
  return [...kept(args.slice(0, at)), ...add, ...kept(args.slice(at))];
}
