/**
 * UEFI boot entries on a real host, with efibootmgr, as upstream Trident manages them at finalize:
 * one entry per ESP directory label (`AZLA`, `AZLB`, …) loading `/EFI/<label>/bootx64.efi`; old
 * entries with the label are deleted (and dropped from BootOrder) first; the new entry becomes
 * BootNext; BootOrder gets it first (install, manual rollback), last (A/B update: some firmware
 * forgets entries that are not in BootOrder, and BootNext alone makes the trial boot), or is left
 * alone (VMs that manage their own order: upstream's virtdeploy workaround).
 */
import { runTool } from '@trident/exec';
import { BootConfigError } from '../errors.ts';

export interface EfiBootEntry {
  /** Four hex digits, as efibootmgr prints them (`000A`). */
  number: string;
  label: string;
  active: boolean;
}

export interface EfiBootState {
  bootCurrent: string | undefined;
  bootNext: string | undefined;
  bootOrder: string[];
  entries: EfiBootEntry[];
}

export type BootOrderPosition = 'first' | 'last' | 'unchanged';

/** Reads efibootmgr's listing (with or without `-v`). */
export function parseEfibootmgr(output: string): EfiBootState {
  const state: EfiBootState = { bootCurrent: undefined, bootNext: undefined, bootOrder: [], entries: [] };
  for (const raw of output.split('\n')) {
    const line = raw.trimEnd();
    const field = /^(BootCurrent|BootNext|BootOrder|Timeout):\s*(.*)$/u.exec(line);
    if (field) {
      const value = field[2]!.trim();
      if (field[1] === 'BootCurrent') state.bootCurrent = value;
      else if (field[1] === 'BootNext') state.bootNext = value;
      else if (field[1] === 'BootOrder')
        state.bootOrder = value === '' ? [] : value.split(',').map((v) => v.trim());
      continue;
    }
    const entry =
      /^Boot([0-9A-Fa-f]{4})(\*?)\s+([^\t]*?)(?:\t.*|\s+(?:HD|PciRoot|VenHw|Fv|BBS|MAC|Vendor)\(.*)?$/u.exec(
        line,
      );
    if (entry) {
      state.entries.push({
        number: entry[1]!.toUpperCase(),
        active: entry[2] === '*',
        label: entry[3]!.trim(),
      });
      continue;
    }
    if (line.startsWith('Boot') && !line.startsWith('BootOptionSupport'))
      throw new BootConfigError('BOOTCFG_EFIBOOTMGR', `cannot read efibootmgr line ${JSON.stringify(line)}`);
  }
  return state;
}

/** The BootOrder with `numbers` moved to the front or the back (in their order), or unchanged. */
export function planBootOrder(
  order: readonly string[],
  numbers: readonly string[],
  position: BootOrderPosition,
): string[] {
  if (position === 'unchanged') return [...order];
  const rest = order.filter((n) => !numbers.includes(n));
  return position === 'first' ? [...numbers, ...rest] : [...rest, ...numbers];
}

export interface CreateBootEntryOptions {
  /** The ESP directory name (`AZLA`), which upstream also uses as the entry's label. */
  label: string;
  /** The whole disk holding the ESP (`/dev/sda`), and the ESP's partition number on it. */
  disk: string;
  partitionNumber: number;
  /** Loader path on the ESP, e.g. `/EFI/AZLA/bootx64.efi`. */
  loader: string;
  bootOrder: BootOrderPosition;
  /** Make the new entry BootNext (default true). */
  bootNext?: boolean;
  signal?: AbortSignal;
}

async function efibootmgr(args: string[], signal?: AbortSignal): Promise<string> {
  try {
    return (
      await runTool('efibootmgr', args, { timeoutMs: 60_000, ...(signal === undefined ? {} : { signal }) })
    ).stdout;
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    throw new BootConfigError('BOOTCFG_EFIBOOTMGR', `efibootmgr ${args.join(' ')}: ${detail}`, {
      cause: error,
    });
  }
}

export async function readEfiBootState(signal?: AbortSignal): Promise<EfiBootState> {
  return parseEfibootmgr(await efibootmgr([], signal));
}

/** Creates the entry for `label` (replacing older ones), sets BootNext and BootOrder; returns its number. */
export async function createBootEntry(options: CreateBootEntryOptions): Promise<string> {
  if (!/^[A-Za-z0-9_.-]+$/u.test(options.label))
    throw new BootConfigError(
      'BOOTCFG_EFIBOOTMGR',
      `boot entry label ${JSON.stringify(options.label)} must be [A-Za-z0-9_.-]`,
    );
  if (!Number.isInteger(options.partitionNumber) || options.partitionNumber < 1)
    throw new BootConfigError(
      'BOOTCFG_EFIBOOTMGR',
      `ESP partition number ${options.partitionNumber} is not a partition number`,
    );
  const before = await readEfiBootState(options.signal);
  const stale = before.entries.filter((e) => e.label === options.label).map((e) => e.number);
  for (const number of stale) await efibootmgr(['--bootnum', number, '--delete-bootnum'], options.signal);
  // efibootmgr firmware may leave deleted numbers in BootOrder: drop them ourselves.
  const afterDelete = await readEfiBootState(options.signal);
  const order = afterDelete.bootOrder.filter((n) => !stale.includes(n));
  if (order.join(',') !== afterDelete.bootOrder.join(','))
    await efibootmgr(['--bootorder', order.join(',')], options.signal);
  // The loader path uses backslashes on the firmware side; efibootmgr converts '/' itself.
  await efibootmgr(
    [
      ...['--create-only', '--disk', options.disk, '--part', String(options.partitionNumber)],
      ...['--label', options.label, '--loader', options.loader],
    ],
    options.signal,
  );
  const created = (await readEfiBootState(options.signal)).entries.filter(
    (e) => e.label === options.label && !stale.includes(e.number),
  );
  const number = created.at(-1)?.number;
  if (number === undefined)
    throw new BootConfigError('BOOTCFG_EFIBOOTMGR', `efibootmgr created no entry labelled ${options.label}`);
  if (options.bootNext ?? true) await efibootmgr(['--bootnext', number], options.signal);
  const planned = planBootOrder(order, [number], options.bootOrder);
  if (planned.join(',') !== order.join(','))
    await efibootmgr(['--bootorder', planned.join(',')], options.signal);
  return number;
}

/** After a good boot (commit): the entries labelled like BootCurrent go first in BootOrder. */
export async function persistCurrentBootOrder(signal?: AbortSignal): Promise<string[]> {
  const state = await readEfiBootState(signal);
  const current = state.entries.find((e) => e.number === state.bootCurrent);
  if (current === undefined)
    throw new BootConfigError(
      'BOOTCFG_EFIBOOTMGR',
      `BootCurrent ${state.bootCurrent ?? '(none)'} is not a listed entry`,
    );
  const numbers = state.entries.filter((e) => e.label === current.label).map((e) => e.number);
  const planned = planBootOrder(state.bootOrder, numbers, 'first');
  if (planned.join(',') !== state.bootOrder.join(','))
    await efibootmgr(['--bootorder', planned.join(',')], signal);
  return planned;
}
