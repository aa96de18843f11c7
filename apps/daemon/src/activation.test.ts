/**
 * The real `tridentd` process: socket activation with an fd inherited through systemd's own
 * `systemd-socket-activate` (LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID), and SIGTERM.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentAvailable } from '@trident/test-support/component';
import { afterEach, describe, expect, test } from 'vitest';
import { createTestClients, unary } from './test-support/grpc-test-client.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const DAEMON = [process.execPath, '--conditions=@trident/source', MAIN];

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

function track(child: ChildProcess): { stderr: () => string; exit: Promise<number | null> } {
  children.push(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { stderr: () => stderr, exit };
}

async function waitFor(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const activatorAvailable = componentAvailable(
  has('systemd-socket-activate'),
  'socket activation',
  'systemd-socket-activate is not on PATH (Debian package systemd)',
);
describe('tridentd process', () => {
  test.skipIf(!activatorAvailable)(
    'serves on the socket systemd passes as fd 3 and leaves it in place',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tridentd-act-'));
      dirs.push(dir);
      const socket = join(dir, 'trident.sock');
      // The socket is bound by systemd-socket-activate, which execs tridentd on the first connection.
      const child = spawn(
        'systemd-socket-activate',
        [
          '-l',
          socket,
          '--fdname=trident',
          ...DAEMON,
          '--socket-path',
          join(dir, 'unused.sock'),
          '-v',
          'debug',
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      const proc = track(child);
      await waitFor(() => existsSync(socket));
      const clients = createTestClients(socket);
      const response = await unary(clients.version, 'Version', {});
      expect(response.version).toMatch(/^\d+\.\d+\.\d+/);
      clients.close();
      expect(proc.stderr()).toMatch(/listeners="?fd:3 \(unix.*name trident\)/);
      expect(existsSync(join(dir, 'unused.sock'))).toBe(false);
      child.kill('SIGTERM');
      expect(await proc.exit).toBe(0);
      // systemd owns an activated socket: the daemon must not remove it.
      expect(lstatSync(socket).isSocket()).toBe(true);
    },
  );

  test('binds its own socket 0600, stops on SIGTERM with exit 0 and removes the socket', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tridentd-proc-'));
    dirs.push(dir);
    const socket = join(dir, 'sub', 'trident.sock');
    const child = spawn(DAEMON[0]!, [...DAEMON.slice(1), '--socket-path', socket], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const proc = track(child);
    await waitFor(() => proc.stderr().includes('tridentd listening'));
    expect(lstatSync(socket).mode & 0o777).toBe(0o600);
    child.kill('SIGTERM');
    expect(await proc.exit).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });

  test('refuses inconsistent activation variables with exit 1', async () => {
    const child = spawn(DAEMON[0]!, DAEMON.slice(1), {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LISTEN_FDS: '1', LISTEN_FDNAMES: 'a:b' },
    });
    const proc = track(child);
    expect(await proc.exit).toBe(1);
    expect(proc.stderr()).toContain('DAEMON_ACTIVATION_INVALID');
  });
});
