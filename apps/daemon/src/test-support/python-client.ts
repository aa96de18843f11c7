/**
 * The Python grpcio test client (tests/clients/python/trident_client.py, gRPC C-core) for daemon
 * tests: whether it can run here, its venv, and one command run as JSON lines.
 */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { componentAvailable } from '@trident/test-support/component';

const exec = promisify(execFile);
export const CLIENT_DIR = fileURLToPath(new URL('../../../../tests/clients/python/', import.meta.url));
const PROTOS = fileURLToPath(new URL('../../proto', import.meta.url));

export type Line = Record<string, any>;

function pythonWithVenv(): boolean {
  try {
    execFileSync(process.env['PYTHON'] ?? 'python3', ['-c', 'import venv, ensurepip'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Whether the client can run (python3 with venv); reported as a skipped component otherwise. */
export function pythonClientAvailable(): boolean {
  return componentAvailable(
    pythonWithVenv(),
    'the Python grpcio client',
    'python3 with the venv module is not available (Debian packages python3, python3-venv)',
  );
}

/** Creates or reuses the client's venv (make-venv.sh, pinned grpcio); resolves with its python. */
export async function preparePython(): Promise<string> {
  const made = await exec('bash', [join(CLIENT_DIR, 'make-venv.sh')], { timeout: 600_000 });
  return made.stdout.trim();
}

/** A function running one client command against `socketPath`, resolving with its JSON lines. */
export function pythonClient(python: string, socketPath: () => string, stubsDir: string) {
  return async (...args: string[]): Promise<Line[]> => {
    const { stdout } = await exec(
      python,
      [
        join(CLIENT_DIR, 'trident_client.py'),
        '--socket',
        socketPath(),
        '--stubs',
        stubsDir,
        '--protos',
        PROTOS,
        ...args,
      ],
      { timeout: 120_000 },
    ).catch((error: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`trident_client.py ${args.join(' ')} failed: ${error.stderr || error.message}`);
    });
    return stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Line);
  };
}
