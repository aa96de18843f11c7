/**
 * What this host offers for test VMs: QEMU and OVMF present, and whether KVM can run them. KVM is
 * used only after a probe boot of OVMF under KVM prints its boot manager; otherwise TCG, with the
 * reason. (On nested or paravirtual KVM, QEMU may abort on an MSR or stop with "KVM internal error"
 * before the firmware runs a single instruction.) The probe result is kept per host boot.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureCacheDir } from './vm-cache.ts';

export const QEMU = 'qemu-system-x86_64';

export interface Firmware {
  /** Read-only code image (`-drive if=pflash,unit=0,readonly=on`). */
  code: string;
  /** Pristine variable store; every VM gets its own copy. */
  vars: string;
}

/** OVMF without Secure Boot enforcement: the fixtures are unsigned (Debian's `ovmf` package). */
const FIRMWARE_CANDIDATES: Firmware[] = [
  { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
  { code: '/usr/share/OVMF/OVMF_CODE.fd', vars: '/usr/share/OVMF/OVMF_VARS.fd' },
];

export function findFirmware(): Firmware | undefined {
  return FIRMWARE_CANDIDATES.find((f) => existsSync(f.code) && existsSync(f.vars));
}

export type VmSupport = { available: true; firmware: Firmware } | { available: false; reason: string };

/** Whether VMs can run here at all (tests skip locally, fail in CI, with `reason`). */
export function vmSupport(): VmSupport {
  const qemu = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  if (qemu.error !== undefined || qemu.status !== 0)
    return { available: false, reason: `${QEMU} is not installed (Debian package qemu-system-x86)` };
  const firmware = findFirmware();
  if (firmware === undefined)
    return { available: false, reason: 'OVMF firmware is missing (Debian package ovmf, /usr/share/OVMF)' };
  return { available: true, firmware };
}

export interface AccelChoice {
  accel: 'kvm' | 'tcg';
  /** Why, in one line: printed once per process. */
  reason: string;
}

let chosen: AccelChoice | undefined;

function hostBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** Boots OVMF without disks under KVM; KVM works when its boot manager gets to print. */
async function probeKvm(firmware: Firmware, timeoutMs: number): Promise<string | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'trident-kvm-probe-'));
  const vars = join(dir, 'vars.fd');
  copyFileSync(firmware.vars, vars);
  const args = [
    ...['-machine', 'q35,accel=kvm', '-cpu', 'host', '-smp', '1', '-m', '256'],
    ...['-display', 'none', '-nic', 'none', '-no-reboot', '-monitor', 'none', '-serial', 'stdio'],
    ...['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${firmware.code}`],
    ...['-drive', `if=pflash,format=raw,unit=1,file=${vars}`],
  ];
  const child = spawn(QEMU, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  try {
    return await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(`no firmware output within ${timeoutMs / 1000} s`), timeoutMs);
      const look = (chunk: Buffer) => {
        output += chunk.toString('latin1');
        if (/BdsDxe|UEFI Interactive Shell/u.test(output)) {
          clearTimeout(timer);
          resolve(undefined);
        } else if (/KVM internal error|failed to set MSR|Assertion/u.test(output)) {
          clearTimeout(timer);
          resolve(
            output
              .split('\n')
              .find((l) => /KVM|MSR|Assertion/u.test(l))
              ?.trim() ?? 'KVM error',
          );
        }
      };
      child.stdout.on('data', look);
      child.stderr.on('data', look);
      child.once('error', (error) => {
        clearTimeout(timer);
        resolve(error.message);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(
          `QEMU exited (${signal ?? code}) before the firmware ran: ${output.trim().split('\n').at(-1)}`,
        );
      });
    });
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * KVM or TCG for this host: `TRIDENT_VM_ACCEL=tcg|kvm` forces one; otherwise KVM when /dev/kvm
 * exists and the probe succeeds. Cached in memory and, per host boot, in the fixture cache.
 */
export async function chooseAccel(firmware: Firmware): Promise<AccelChoice> {
  if (chosen !== undefined) return chosen;
  const forced = process.env['TRIDENT_VM_ACCEL'];
  if (forced === 'tcg' || forced === 'kvm') {
    chosen = { accel: forced, reason: `TRIDENT_VM_ACCEL=${forced}` };
  } else if (!existsSync('/dev/kvm')) {
    chosen = { accel: 'tcg', reason: 'TCG: /dev/kvm does not exist' };
  } else {
    const record = join(fixtureCacheDir(), `kvm-probe-${hostBootId()}.json`);
    try {
      chosen = JSON.parse(readFileSync(record, 'utf8')) as AccelChoice;
    } catch {
      const failure = await probeKvm(firmware, 15_000);
      chosen =
        failure === undefined
          ? { accel: 'kvm', reason: 'KVM: a probe boot of OVMF under KVM succeeded' }
          : { accel: 'tcg', reason: `TCG: a probe boot of OVMF under KVM failed (${failure})` };
      try {
        mkdirSync(fixtureCacheDir(), { recursive: true });
        writeFileSync(record, JSON.stringify(chosen));
      } catch {
        // an unwritable cache only costs a probe next time
      }
    }
  }
  console.warn(`[vm] accelerator: ${chosen.reason}`);
  return chosen;
}
