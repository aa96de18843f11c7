/**
 * QEMU test VMs: q35 + OVMF (a private copy of the variable store per machine), virtio disks, no
 * network, the serial console captured to a log and watched for markers, a hard timeout, and
 * cleanup by PID. Everything started through a `VmScope` is killed by `scope.cleanup()` (call it in
 * afterEach/afterAll) and, as a last resort, when the process exits; QEMU and swtpm also get SIGKILL
 * from the kernel if the test process dies (`setpriv --pdeathsig`).
 *
 * One QEMU process is one boot (`-no-reboot`): a guest reboot ends it. A test that needs several
 * boots of the same machine (A/B update, rollback) starts the next VM with `machine` from the last
 * one, which keeps the UEFI variables (BootNext, boot order) and the TPM state.
 */
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AccelChoice, chooseAccel, QEMU, vmSupport } from './vm-host.ts';
import {
  type BootMarker,
  cleanSerial,
  JOB_DISK_SERIAL,
  type JobOutput,
  parseBootMarkers,
  parseJobOutputs,
  RESULTS_DISK_SERIAL,
  readResultsDisk,
  type VmJob,
  writeJobDisk,
  writeResultsDisk,
} from './vm-job.ts';
import {
  installExitHook,
  killAndWait,
  makeTempDir,
  newMachine,
  removeTempDir,
  spawnTied,
  startSwtpm,
  sweepStaleTempDirs,
  takeSlot,
  type VmMachine,
} from './vm-process.ts';

export type { VmMachine } from './vm-process.ts';

export type VmErrorCode =
  | 'VM_UNAVAILABLE'
  | 'VM_START_FAILED'
  | 'VM_TIMEOUT'
  | 'VM_EXITED'
  | 'VM_NO_BOOTABLE_DEVICE'
  | 'VM_KERNEL_PANIC'
  | 'VM_VERITY_CORRUPTED'
  | 'VM_EMERGENCY_SHELL'
  | 'VM_JOB_FAILED';

/** A VM that did not do what the test waited for; the message ends with the console's last lines. */
export class VmError extends Error {
  readonly code: VmErrorCode;
  constructor(code: VmErrorCode, message: string) {
    super(message);
    this.name = 'VmError';
    this.code = code;
  }
}

/** Console text that means the wait is over and failed, and why. */
const FATAL: Array<{ pattern: RegExp; code: VmErrorCode; what: string }> = [
  {
    pattern: /UEFI Interactive Shell|No bootable option or device was found/u,
    code: 'VM_NO_BOOTABLE_DEVICE',
    what: 'the firmware found nothing to boot and started the UEFI shell',
  },
  { pattern: /Kernel panic - not syncing/u, code: 'VM_KERNEL_PANIC', what: 'the kernel panicked' },
  {
    pattern: /device-mapper: verity: [^\n]*is corrupted/u,
    code: 'VM_VERITY_CORRUPTED',
    what: 'dm-verity found a block that does not match the root hash',
  },
  {
    pattern:
      /You are in emergency mode|Entering emergency mode|Dropping to a shell|Give root password for maintenance/u,
    code: 'VM_EMERGENCY_SHELL',
    what: 'the OS dropped to an emergency shell',
  },
];

export interface VmDisk {
  /** Raw image file (or block device) for a virtio-blk disk; disks appear as vda, vdb, … in order. */
  path: string;
  /** The guest sees a read-only disk. */
  readOnly?: boolean;
  /** Writes go to a throw-away overlay, never to `path` (boot a cached fixture as is). */
  snapshot?: boolean;
  /** virtio serial: the guest has /dev/disk/by-id/virtio-<serial>. */
  serial?: string;
}

export interface VmOptions {
  /** For logs and temp dirs. */
  name: string;
  disks: VmDisk[];
  /** A job for the fixture OS's marker unit, on a config disk after `disks`. */
  job?: VmJob;
  /** Size of the results disk (after the job disk); default 16 MiB when a job is given, else none. */
  resultsDiskMiB?: number;
  /** Reuse a machine (UEFI variables, TPM) from an earlier VM; default: a fresh one. */
  machine?: VmMachine;
  /** Give a fresh machine a TPM 2.0 (swtpm). */
  tpm?: boolean;
  memoryMiB?: number;
  cpus?: number;
  /** Hard limit for this VM's whole life; it is killed after that. Default 10 minutes. */
  timeoutMs?: number;
  /** Lines of the serial console as they arrive (debugging). */
  onSerialLine?: (line: string) => void;
}

export interface JobResult extends JobOutput {
  /** Files from `$TRIDENT_RESULTS` (with output.log and rc) read back from the results disk. */
  results: Map<string, Buffer>;
}

export interface Vm {
  readonly name: string;
  readonly pid: number;
  readonly accel: AccelChoice;
  readonly machine: VmMachine;
  /** The serial console log file (kept after stop when `TRIDENT_VM_KEEP_LOGS` is set). */
  readonly serialLog: string;
  /** The full qemu command line, for reproducing by hand. */
  readonly commandLine: string[];
  /** `performance.now()` when QEMU was spawned (after waiting for the VM slot): for timings. */
  readonly startedAt: number;
  /** Console text so far, carriage returns and escapes removed. */
  serial(): string;
  /** The console's last `n` lines (what error messages show). */
  tail(n?: number): string;
  /** Resolves on the first console match after `from` (a serial() length); rejects on exit, fatal console text or timeout. */
  waitFor(pattern: RegExp, options?: { timeoutMs?: number; from?: number }): Promise<RegExpExecArray>;
  /** The next TRIDENT-BOOT-OK marker. */
  waitForBoot(options?: { timeoutMs?: number }): Promise<BootMarker>;
  /** The job's end marker, then (after the guest powers off) its results disk. */
  waitForJob(options?: { timeoutMs?: number }): Promise<JobResult>;
  /** Resolves when QEMU exits (guest power-off or reboot); rejects on timeout. */
  waitForExit(options?: { timeoutMs?: number }): Promise<{ code: number | null; signal: string | null }>;
  /** Kills QEMU (and swtpm) by PID and removes the VM's temp files. Never throws. */
  stop(): Promise<void>;
}

export interface VmScope {
  /** A machine (UEFI variable store copy, optional TPM) that several boots can share. */
  machine(options?: { tpm?: boolean }): VmMachine;
  start(options: VmOptions): Promise<Vm>;
  /** Stops every VM and removes every machine this scope made. Never throws. */
  cleanup(): Promise<void>;
}

export function createVmScope(): VmScope {
  installExitHook();
  sweepStaleTempDirs();
  const vms = new Set<Vm>();
  const machines = new Set<VmMachine>();

  const machine = (options: { tpm?: boolean } = {}): VmMachine => {
    const support = vmSupport();
    if (!support.available) throw new VmError('VM_UNAVAILABLE', support.reason);
    const made = newMachine(support.firmware.vars, options.tpm === true);
    machines.add(made);
    return made;
  };

  const start = async (options: VmOptions): Promise<Vm> => {
    const support = vmSupport();
    if (!support.available) throw new VmError('VM_UNAVAILABLE', support.reason);
    const accel = await chooseAccel(support.firmware);
    const releaseSlot = await takeSlot();
    try {
      return await launch(options, support.firmware.code, accel, releaseSlot);
    } catch (error) {
      await releaseSlot();
      throw error;
    }
  };

  const launch = async (
    options: VmOptions,
    firmwareCode: string,
    accel: AccelChoice,
    releaseSlot: () => Promise<void>,
  ): Promise<Vm> => {
    const own = options.machine ?? machine({ tpm: options.tpm === true });
    const work = makeTempDir(options.name);
    const serialLog = join(work, 'serial.log');
    writeFileSync(serialLog, '');

    const disks = [...options.disks];
    let resultsDisk: string | undefined;
    if (options.job !== undefined) {
      disks.push({
        path: await writeJobDisk(options.job, join(work, 'job.tar')),
        readOnly: true,
        serial: JOB_DISK_SERIAL,
      });
    }
    const resultsMiB = options.resultsDiskMiB ?? (options.job !== undefined ? 16 : 0);
    if (resultsMiB > 0) {
      resultsDisk = await writeResultsDisk(join(work, 'results.img'), resultsMiB);
      disks.push({ path: resultsDisk, serial: RESULTS_DISK_SERIAL });
    }

    let swtpm: ChildProcess | undefined;
    const args = [
      ...['-machine', `q35,accel=${accel.accel}`, ...(accel.accel === 'kvm' ? ['-cpu', 'host'] : [])],
      ...['-smp', String(options.cpus ?? 2), '-m', String(options.memoryMiB ?? 1024)],
      ...['-display', 'none', '-nic', 'none', '-no-reboot', '-monitor', 'none', '-serial', 'stdio'],
      ...['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${firmwareCode}`],
      ...['-drive', `if=pflash,format=raw,unit=1,file=${own.varsFile}`],
    ];
    for (const [i, disk] of disks.entries()) {
      const drive = [`file=${disk.path}`, 'format=raw', 'if=none', `id=disk${i}`, 'cache=unsafe'];
      if (disk.readOnly === true) drive.push('readonly=on');
      if (disk.snapshot === true) drive.push('snapshot=on');
      const device = ['virtio-blk-pci', `drive=disk${i}`];
      if (disk.serial !== undefined) device.push(`serial=${disk.serial}`);
      args.push('-drive', drive.join(','), '-device', device.join(','));
    }
    if (own.tpmStateDir !== undefined) {
      const socket = join(work, 'swtpm.sock');
      swtpm = await startSwtpm(own.tpmStateDir, socket).catch((error: Error) => {
        throw new VmError('VM_START_FAILED', `${options.name}: ${error.message}`);
      });
      args.push(
        ...['-chardev', `socket,id=chrtpm,path=${socket}`],
        ...['-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-tis,tpmdev=tpm0'],
      );
    }

    const startedAt = performance.now();
    const child = spawnTied(QEMU, args);
    if (child.pid === undefined) {
      swtpm?.kill('SIGKILL');
      throw new VmError('VM_START_FAILED', `${QEMU} could not be started`);
    }
    let raw = '';
    let clean = '';
    let stderr = '';
    let partialLine = '';
    const listeners = new Set<() => void>();
    const notify = () => {
      for (const listener of [...listeners]) listener();
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      raw += text;
      clean = cleanSerial(raw);
      appendFileSync(serialLog, chunk);
      if (options.onSerialLine !== undefined) {
        const lines = cleanSerial(partialLine + text).split('\n');
        partialLine = lines.pop() ?? '';
        for (const line of lines) options.onSerialLine(line);
      }
      notify();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-16384);
    });
    let exit: { code: number | null; signal: string | null } | undefined;
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.once('exit', (code, signal) => {
        exit = { code, signal };
        // A powered-off guest no longer needs the host's cores.
        void releaseSlot();
        notify();
        resolve(exit);
      });
    });
    const hardLimitMs = options.timeoutMs ?? 600_000;
    const hardLimit = setTimeout(() => child.kill('SIGKILL'), hardLimitMs);
    hardLimit.unref();
    let killedByHarness = false;

    const tail = (n = 40) => clean.split('\n').slice(-n).join('\n');
    const describeEnd = () =>
      `\n--- qemu stderr ---\n${stderr.trim() || '(none)'}\n--- last console lines (${serialLog}) ---\n${tail()}`;

    const waitFor = (
      pattern: RegExp,
      waitOptions: { timeoutMs?: number; from?: number } = {},
    ): Promise<RegExpExecArray> =>
      new Promise((resolve, reject) => {
        const from = waitOptions.from ?? 0;
        const timeoutMs = waitOptions.timeoutMs ?? hardLimitMs;
        const flags = pattern.flags.replace('g', '');
        const matcher = new RegExp(pattern.source, flags);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        const check = () => {
          const text = clean.slice(from);
          const match = matcher.exec(text);
          if (match !== null) {
            done();
            resolve(match);
            return;
          }
          for (const fatal of FATAL) {
            if (fatal.pattern.test(text)) {
              done();
              reject(new VmError(fatal.code, `${options.name}: ${fatal.what}${describeEnd()}`));
              return;
            }
          }
          if (exit !== undefined) {
            done();
            const how = killedByHarness ? 'was stopped' : `exited (${exit.signal ?? exit.code})`;
            reject(
              new VmError(
                'VM_EXITED',
                `${options.name}: QEMU ${how} before ${pattern} appeared${describeEnd()}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(
            new VmError(
              'VM_TIMEOUT',
              `${options.name}: ${pattern} did not appear within ${timeoutMs / 1000} s (${accel.accel})${describeEnd()}`,
            ),
          );
        }, timeoutMs);
        listeners.add(check);
        check();
      });

    let stopped = false;
    const vm: Vm = {
      name: options.name,
      pid: child.pid,
      accel,
      machine: own,
      serialLog,
      commandLine: [QEMU, ...args],
      startedAt,
      serial: () => clean,
      tail,
      waitFor,
      async waitForBoot(waitOptions = {}) {
        await waitFor(/TRIDENT-BOOT-FACTS [^\n]*\n/u, waitOptions);
        return parseBootMarkers(clean).at(-1)!;
      },
      async waitForJob(waitOptions = {}) {
        const match = await waitFor(/TRIDENT-JOB-END (\S+) rc=(\d+)/u, waitOptions);
        const job = parseJobOutputs(clean).at(-1) ?? { id: match[1]!, rc: Number(match[2]), output: '' };
        let results = new Map<string, Buffer>();
        if (resultsDisk !== undefined && options.job?.after !== 'none') {
          // The unit synced the results disk before printing the end marker; wait for power-off so
          // QEMU has written everything to the file.
          await vm.waitForExit({ timeoutMs: 120_000 }).catch(() => undefined);
          results = await readResultsDisk(resultsDisk);
        }
        const log = results.get('output.log');
        return { ...job, ...(log === undefined ? {} : { output: log.toString('utf8') }), results };
      },
      async waitForExit(waitOptions = {}) {
        if (exit !== undefined) return exit;
        const timeoutMs = waitOptions.timeoutMs ?? hardLimitMs;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new VmError(
                  'VM_TIMEOUT',
                  `${options.name}: still running after ${timeoutMs / 1000} s${describeEnd()}`,
                ),
              ),
            timeoutMs,
          );
        });
        try {
          return await Promise.race([exited, timeout]);
        } finally {
          clearTimeout(timer);
        }
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        killedByHarness = exit === undefined;
        clearTimeout(hardLimit);
        await killAndWait(child, 3000);
        if (swtpm !== undefined) await killAndWait(swtpm, 1000);
        vms.delete(vm);
        await releaseSlot();
        if (process.env['TRIDENT_VM_KEEP_LOGS']) {
          console.warn(`[vm] ${options.name}: serial log kept at ${serialLog}`);
        } else {
          removeTempDir(work);
        }
      },
    };
    vms.add(vm);
    return vm;
  };

  return {
    machine,
    start,
    async cleanup() {
      for (const vm of [...vms]) await vm.stop();
      for (const made of machines) {
        removeTempDir(made.dir);
      }
      machines.clear();
    },
  };
}

/**
 * Boots once with a job and returns the boot marker and the job's result; the VM is stopped
 * whatever happens.
 */
export async function runVmJob(
  scope: VmScope,
  options: VmOptions & { job: VmJob },
): Promise<{ boot: BootMarker; job: JobResult; serial: string }> {
  const vm = await scope.start(options);
  try {
    const boot = await vm.waitForBoot();
    const job = await vm.waitForJob();
    return { boot, job, serial: vm.serial() };
  } finally {
    await vm.stop();
  }
}
