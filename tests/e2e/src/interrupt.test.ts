/**
 * Signals and closed pipes, through every way the CLI and the daemon are launched: an interrupted
 * command exits 4 saying "interrupted" and cleans up; the launchers exec a real Node binary, so
 * the signal reaches Node and not a shell wrapper; `trident … | head -1` ends quietly.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildCosi } from '@trident/cosi-format';
import { componentAvailable } from '@trident/test-support/component';
import { createDemoDiskImage } from '@trident/test-support/disk-image';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CosiServer, serveCosi } from './cosi-server.ts';
import { tridentAsync, waitFor } from './run-cli.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const CLI_BIN = join(ROOT, 'apps/cli/bin/trident.js');
const DAEMON_BIN = join(ROOT, 'apps/daemon/bin/tridentd.js');
/** What `pnpm trident` and the installed commands see: the pnpm shell wrapper first on PATH. */
const WRAPPED_PATH = `${join(ROOT, 'node_modules/.bin')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`;
const SOURCES = { NODE_OPTIONS: '--conditions=@trident/source', PATH: WRAPPED_PATH };

let dir: string;
let cosi: string;
let server: CosiServer;
let silent: Server;
let silentUrl: string;
let silentRequests = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-signals-'));
  await createDemoDiskImage({ path: join(dir, 'disk.img'), sizeMiB: 128, espMiB: 16, rootMiB: 64 });
  cosi = join(dir, 'demo.cosi');
  await buildCosi({ input: join(dir, 'disk.img'), output: cosi });
  server = await serveCosi(cosi);
  // Accepts and never answers: a load that hangs until interrupted.
  silent = createServer(() => {
    silentRequests++;
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}/os.cosi`;
});

afterAll(async () => {
  await server?.stop();
  silent?.closeAllConnections();
  await new Promise<void>((r) => (silent ? silent.close(() => r()) : r()));
  await rm(dir, { recursive: true, force: true });
});

/** The real Node binary this process runs on (what the launchers must end up as). */
const NODE = realpathSync(process.execPath);

/** The program a process runs now (/proc/PID/exe): proves the launcher exec'd it in place. */
function programOf(pid: number): string {
  return realpathSync(readlinkSync(`/proc/${pid}/exe`));
}

/** Whether the process has a handler for signal number `signal` (SigCgt in /proc/PID/status). */
function catchesSignal(pid: number, signal: number): boolean {
  const mask = /^SigCgt:\s*([0-9a-f]+)$/mu.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0';
  return (BigInt(`0x${mask}`) & (1n << BigInt(signal - 1))) !== 0n;
}

describe('interruptions', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`exits 4 with "interrupted" on ${signal} while the image is still loading`, async () => {
      const before = silentRequests;
      const run = tridentAsync([
        'stream-disk',
        silentUrl,
        '--target-image',
        join(dir, `never-${signal}.img`),
      ]);
      await waitFor(() => silentRequests > before); // the CLI is waiting for the server's answer
      run.kill(signal);
      const result = await run.done;
      expect(result.code, result.stderr).toBe(4);
      expect(result.stderr).toContain(`interrupted by ${signal}`);
      expect(existsSync(join(dir, `never-${signal}.img`))).toBe(false);
    });
  }

  it('bin/trident.js execs a real Node even with the pnpm wrapper first on PATH; SIGTERM mid-write exits 4 and cleans up', async () => {
    const target = join(dir, 'bin-term.img');
    server.hold();
    const run = tridentAsync(['stream-disk', server.url, '--target-image', target], {
      command: [CLI_BIN],
      env: SOURCES,
    });
    try {
      await server.held();
      expect(programOf(run.pid)).toBe(NODE);
      expect(existsSync(target)).toBe(true);
      run.kill('SIGTERM');
      const result = await run.done;
      expect(result.code, result.stderr).toBe(4);
      expect(result.stderr).toContain('interrupted by SIGTERM');
    } finally {
      server.release();
    }
    // Cleanup happened: the file this run created held no verified image, so it is gone.
    expect(existsSync(target)).toBe(false);
  });

  it('`pnpm trident` passes SIGTERM on to Node: exit 4 and cleanup', async () => {
    const target = join(dir, 'pnpm-term.img');
    server.hold();
    // As from a user's shell: pnpm itself not under a wrapper (vitest runs with node_modules/.bin
    // first on PATH, where `node` is one), so the signal goes to pnpm, which passes it on.
    const PATH = (process.env['PATH'] ?? '')
      .split(':')
      .filter((entry) => !entry.includes('node_modules/.bin'))
      .join(':');
    const run = tridentAsync(['-s', 'trident', 'stream-disk', server.url, '--target-image', target], {
      command: ['pnpm', '--dir', ROOT],
      env: { PATH },
    });
    try {
      await Promise.race([server.held(), run.done.then((r) => Promise.reject(new Error(r.stderr)))]);
      run.kill('SIGTERM');
      const result = await run.done;
      expect(result.code, result.stderr).toBe(4);
      expect(result.stderr).toContain('interrupted by SIGTERM');
    } finally {
      server.release();
    }
    expect(existsSync(target)).toBe(false);
  });
});

const activator = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v systemd-socket-activate'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const activatorAvailable = componentAvailable(
  activator,
  'daemon launcher',
  'systemd-socket-activate is not on PATH (Debian package systemd)',
);

describe.skipIf(!activatorAvailable)('bin/tridentd.js under socket activation', () => {
  it('is the process systemd starts (LISTEN_PID matches) and stops on SIGTERM', async () => {
    const socket = join(dir, 'activated.sock');
    // As tridentd.service does: the activator execs the unit's ExecStart program in its own process.
    const child = spawn(
      'systemd-socket-activate',
      [
        '-l',
        socket,
        '--fdname=trident',
        // The activator passes on only the environment named with -E (as systemd, the unit's).
        '-E',
        `NODE_OPTIONS=${SOURCES.NODE_OPTIONS}`,
        '-E',
        `PATH=${SOURCES.PATH}`,
        DAEMON_BIN,
        '--socket-path',
        join(dir, 'unused.sock'),
        '-v',
        'debug',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...SOURCES } },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await waitFor(() => existsSync(socket));
      // The first connection makes the activator exec the launcher, which execs Node.
      connect(socket)
        .on('error', () => undefined)
        .end();
      await waitFor(() => /listeners=/u.test(stderr)).catch(() => {
        throw new Error(`tridentd did not start under the activator:\n${stderr}`);
      });
      expect(programOf(child.pid!)).toBe(NODE);
      // tridentd logs "listening" just before it installs its signal handlers: wait for those.
      await waitFor(() => catchesSignal(child.pid!, 15));
      expect(stderr).toMatch(/listeners="?fd:3/u);
      expect(existsSync(join(dir, 'unused.sock'))).toBe(false);
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('closed standard output', () => {
  for (const args of [['--help'], ['cosi', 'inspect', 'COSI'], ['cosi', 'inspect', 'COSI', '--json']]) {
    it(`\`trident ${args.join(' ')} | head -1\` ends quietly with 141`, async () => {
      const child = spawn(
        process.execPath,
        [
          '--conditions=@trident/source',
          join(ROOT, 'apps/cli/src/main.ts'),
          ...args.map((a) => (a === 'COSI' ? cosi : a)),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout.destroy(); // the reader is gone before the first line is written
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
      expect(stderr).toBe('');
      expect(code).toBe(141);
    });
  }

  it('a servicing run whose reader went away is cancelled and cleaned up, quietly', async () => {
    const target = join(dir, 'epipe.img');
    const child = spawn(
      process.execPath,
      [
        '--conditions=@trident/source',
        join(ROOT, 'apps/cli/src/main.ts'),
        'stream-disk',
        cosi,
        '--target-image',
        target,
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
    expect(stderr).toBe('');
    expect(code).toBe(141);
    expect(existsSync(target)).toBe(false);
  });
});
