/**
 * Process plumbing of test VMs: QEMU and swtpm are started under `setpriv --pdeathsig KILL`, so the
 * kernel kills them if the test process dies; an exit hook kills what is left and removes temp
 * dirs; temp dirs left by killed test processes (their pid file names a dead process) are swept
 * when a scope is created; VMs of different processes take turns on the host (the VM slot).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock } from './vm-cache.ts';

/** What outlives one boot of a machine: UEFI variables and TPM state. */
export interface VmMachine {
  dir: string;
  varsFile: string;
  /** swtpm state directory when the machine has a TPM 2.0. */
  tpmStateDir?: string;
}

const PREFIX = 'trident-vm-';

/** A temp dir that records its owner, so a later run can remove it if the owner was killed. */
export function makeTempDir(kind: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${kind.replace(/[^\w.-]/gu, '_')}-`));
  writeFileSync(join(dir, '.owner-pid'), String(process.pid));
  liveDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes VM temp dirs whose owning process is gone (a test run killed by a signal). */
export function sweepStaleTempDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), name);
    try {
      const owner = Number(readFileSync(join(dir, '.owner-pid'), 'utf8'));
      if (owner > 0 && !alive(owner)) rmSync(dir, { recursive: true, force: true });
    } catch {
      // not ours, or being created
    }
  }
}

const liveProcesses = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

export function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of liveProcesses) child.kill('SIGKILL');
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Starts `command` so that the kernel kills it with SIGKILL when this process dies. */
export function spawnTied(command: string, args: string[]): ChildProcess {
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', command, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  liveProcesses.add(child);
  child.once('exit', () => liveProcesses.delete(child));
  return child;
}

export function killAndWait(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export function newMachine(firmwareVars: string, tpm: boolean): VmMachine {
  const dir = makeTempDir('machine');
  const varsFile = join(dir, 'OVMF_VARS.fd');
  copyFileSync(firmwareVars, varsFile);
  const machine: VmMachine = { dir, varsFile };
  if (tpm) {
    machine.tpmStateDir = join(dir, 'tpm');
    mkdirSync(machine.tpmStateDir);
  }
  return machine;
}

export async function startSwtpm(stateDir: string, socket: string): Promise<ChildProcess> {
  const child = spawnTied('swtpm', [
    'socket',
    '--tpm2',
    '--tpmstate',
    `dir=${stateDir}`,
    '--ctrl',
    `type=unixio,path=${socket}`,
    '--terminate',
  ]);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('test', ['-S', socket]);
      return child;
    } catch {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`swtpm did not create ${socket}: ${stderr.trim()}`);
}

/**
 * The host-wide VM slot: test files run in parallel processes, and two TCG guests on two cores
 * would each run at half speed into their timeouts, so VMs of different processes take turns
 * (`TRIDENT_VM_SLOTS=0` turns this off). VMs of one process share the slot it holds.
 */
let slotHolders = 0;
let slotRelease: Promise<() => void> | undefined;

export async function takeSlot(): Promise<() => Promise<void>> {
  if (process.env['TRIDENT_VM_SLOTS'] === '0') return async () => undefined;
  slotHolders++;
  slotRelease ??= acquireLock('vm-slot');
  await slotRelease;
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    if (--slotHolders > 0) return;
    const release = await slotRelease;
    slotRelease = undefined;
    release?.();
  };
}
