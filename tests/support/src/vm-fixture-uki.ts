/**
 * A bootable Unified Kernel Image for the fixture OS, assembled with objcopy from systemd's EFI
 * stub the way distributions built UKIs before ukify: `.osrel`, `.cmdline`, `.uname`, `.linux` and
 * `.initrd` sections appended to `linuxx64.efi.stub`. The stub finds the kernel and initrd at the
 * sections' virtual addresses once the firmware has loaded the image, so each section needs its own
 * address range above the stub's (which ends below 0x20000) and the kernel's and initrd's ranges
 * must not overlap: the addresses are computed from their sizes rather than the 16 MiB gap of the
 * classic recipe (the fixture's kernel is 14 MB, close to it).
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const MiB = 1024 * 1024;

export interface UkiParts {
  /** systemd's `linuxx64.efi.stub` (from the OS being booted: its systemd-boot understands it). */
  stub: string;
  /** The build's os-release (`.osrel`: systemd-boot's menu title and version). */
  osRelease: string;
  cmdline: string;
  /** `.uname`, when given. */
  kernelVersion?: string;
  kernel: string;
  /** `.initrd`, when given (a UKI that is only read, never booted, needs none). */
  initrd?: string;
}

type Run = (command: string, args: string[]) => Promise<string>;

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/** Writes the UKI to `out`, using `work` for the small sections' files. */
export async function buildFixtureUki(parts: UkiParts, out: string, work: string, run: Run): Promise<void> {
  await mkdir(work, { recursive: true });
  const cmdline = join(work, 'cmdline');
  // The stub hands `.cmdline` to the kernel as is; a trailing NUL ends it like a C string.
  await writeFile(cmdline, `${parts.cmdline}\0`);
  const small: [string, string, number][] = [
    ['.osrel', parts.osRelease, 0x20000],
    ['.cmdline', cmdline, 0x30000],
  ];
  if (parts.kernelVersion !== undefined) {
    // `.uname` is what `trident cosi build` (and ukify's UKIs) record as the entry's kernel version.
    const uname = join(work, 'uname');
    await writeFile(uname, parts.kernelVersion);
    small.push(['.uname', uname, 0x40000]);
  }
  // The small sections get 64 KiB each between the stub and the kernel.
  for (const [name, file] of small)
    if ((await stat(file)).size > 0x10000) throw new Error(`the UKI's ${name} (${file}) is over 64 KiB`);
  const linuxAt = 0x2000000;
  const sections: [string, string, number][] = [...small, ['.linux', parts.kernel, linuxAt]];
  if (parts.initrd !== undefined)
    sections.push(['.initrd', parts.initrd, alignUp(linuxAt + (await stat(parts.kernel)).size, 2 * MiB)]);
  await run('objcopy', [
    ...sections.flatMap(([name, file, at]) => [
      '--add-section',
      `${name}=${file}`,
      '--change-section-vma',
      `${name}=0x${at.toString(16)}`,
    ]),
    parts.stub,
    out,
  ]);
}
