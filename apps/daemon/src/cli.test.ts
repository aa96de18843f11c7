/**
 * `runDaemonCli` as a process: a bug outside the request path (an uncaught exception anywhere)
 * stops the daemon the way a server error does, with exit 2 and the socket removed, instead of
 * node's exit 1 with a stale socket.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

test.each([
  ['an uncaught exception', "setTimeout(() => { throw new Error('boom from a timer'); }, 10);"],
  ['an unhandled rejection', "setTimeout(() => { Promise.reject(new Error('boom from a promise')); }, 10);"],
])('%s stops the daemon with exit 2 and removes its socket', async (_name, crash) => {
  const dir = await mkdtemp(join(tmpdir(), 'tridentd-fatal-'));
  dirs.push(dir);
  const socket = join(dir, 'trident.sock');
  // The crash is scheduled once the daemon listens: it stands for a bug in any module.
  const script = `
    import { runDaemonCli } from ${JSON.stringify(CLI)};
    const code = await runDaemonCli(['--socket-path', ${JSON.stringify(socket)}, '--inactivity-timeout', '0'], {
      stderr: (text) => {
        process.stderr.write(text);
        if (text.includes('tridentd listening')) { ${crash} }
      },
    });
    process.exit(code);
  `;
  const child = spawn(
    process.execPath,
    ['--conditions=@trident/source', '--input-type=module', '-e', script],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  expect(stderr).toContain('tridentd listening');
  expect(stderr).toMatch(/level=error msg="fatal error; stopping" .*boom from a/);
  expect(code).toBe(2);
  expect(existsSync(socket)).toBe(false);
});
