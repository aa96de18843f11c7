import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findProgram, isExecError, runTool } from './index.ts';

const MISSING_TOOL = ['no', 'such', 'tool', 'anywhere'].join('-');
describe('runTool', () => {
  it('collects stdout and stderr and sets a fixed locale', async () => {
    const result = await runTool('sh', ['-c', 'echo "$LC_ALL"; echo warn >&2']);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'C\n', stderr: 'warn\n' });
    expect(result.stdoutBytes.toString()).toBe('C\n');
  });

  it('feeds input and passes extra environment', async () => {
    const result = await runTool('sh', ['-c', 'cat; echo "$GREETING"'], {
      input: 'in\n',
      env: { GREETING: 'hi' },
    });
    expect(result.stdout).toBe('in\nhi\n');
  });

  it('names the command, exit code and last words when a tool fails', async () => {
    const error = await runTool('sh', ['-c', 'echo bad thing >&2; exit 3']).catch((e: unknown) => e);
    expect(isExecError(error, 'EXEC_FAILED')).toBe(true);
    expect(error).toMatchObject({ exitCode: 3, stderr: 'bad thing\n', command: 'sh' });
    expect(String((error as Error).message)).toMatch(/'sh -c .*' exited with code 3: bad thing/);
  });

  it('accepts the exit codes the caller says are results', async () => {
    expect((await runTool('sh', ['-c', 'exit 1'], { okCodes: [0, 1] })).exitCode).toBe(1);
    expect((await runTool('sh', ['-c', 'exit 9'], { okCodes: 'any' })).exitCode).toBe(9);
  });

  it('with processGroup, a cancelled script ends at once with its children', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    // The shell's child keeps stdout open: killing the shell alone would wait for it.
    const error = await runTool('sh', ['-c', 'sleep 30; echo late'], {
      signal: controller.signal,
      processGroup: true,
    }).catch((e: unknown) => e);
    expect(isExecError(error, 'EXEC_ABORTED')).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('reports a missing program as EXEC_MISSING_BINARY', async () => {
    // Named at run time so the setup check does not take it for a tool the repository needs.
    const error = await runTool(MISSING_TOOL, []).catch((e: unknown) => e);
    expect(isExecError(error, 'EXEC_MISSING_BINARY')).toBe(true);
  });

  it('kills a tool that runs past its timeout', async () => {
    const started = Date.now();
    const error = await runTool('sleep', ['30'], { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(isExecError(error, 'EXEC_TIMEOUT')).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('kills a tool when the caller aborts', async () => {
    const controller = new AbortController();
    const running = runTool('sleep', ['30'], { signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(new Error('stop')), 100);
    expect(isExecError(await running, 'EXEC_ABORTED')).toBe(true);
  });

  it('keeps only the last bytes of a flood of output', async () => {
    const result = await runTool('sh', ['-c', 'yes line | head -c 1000000; echo; echo END'], {
      maxOutputBytes: 64 * 1024,
    });
    expect(result.stdout.length).toBeLessThan(70 * 1024);
    expect(result.stdout).toMatch(/earlier bytes dropped/);
    expect(result.stdout.trimEnd().endsWith('END')).toBe(true);
  });

  it('hands complete lines to onLine as they arrive', async () => {
    const lines: string[] = [];
    await runTool('sh', ['-c', 'printf "a\\nb"; printf "c\\n" >&2'], {
      onLine: (s, l) => lines.push(`${s}:${l}`),
    });
    expect(lines.sort()).toEqual(['stderr:c', 'stdout:a', 'stdout:b']);
  });

  it('does not crash when a tool exits without reading its input', async () => {
    const result = await runTool('true', [], { input: Buffer.alloc(4 * 1024 * 1024) });
    expect(result.exitCode).toBe(0);
  });
});

describe('findProgram', () => {
  it('finds host programs on PATH and inside a root directory', async () => {
    expect(await findProgram('sh')).toMatch(/\/sh$/);
    expect(await findProgram(MISSING_TOOL)).toBeUndefined();
    const root = await mkdtemp(join(tmpdir(), 'exec-root-'));
    try {
      const { mkdir, symlink } = await import('node:fs/promises');
      await mkdir(join(root, 'usr/sbin'), { recursive: true });
      // An absolute link, as Debian's alternatives make: it must count inside the root.
      await symlink('/etc/alternatives/fake', join(root, 'usr/sbin/fake-tool'));
      expect(await findProgram('fake-tool', root)).toBe('/usr/sbin/fake-tool');
      expect(await findProgram('sh', root)).toBeUndefined();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
