import { spawn } from 'node:child_process';
import { ExecError } from './errors.ts';

export interface RunToolOptions {
  /** Bytes written to the tool's stdin (then closed). Default: stdin is /dev/null. */
  input?: string | Uint8Array | undefined;
  /** Variables added to the inherited environment. `LC_ALL=C` is set unless given here. */
  env?: Record<string, string> | undefined;
  /** Start from an empty environment instead of inheriting (then only `env` and `LC_ALL`). */
  cleanEnv?: boolean | undefined;
  cwd?: string | undefined;
  /**
   * Run inside this root directory (`chroot ROOT COMMAND …`): the program and its libraries come
   * from the new root, as for OS configuration of a target being installed.
   */
  root?: string | undefined;
  /** Exit codes that count as success (default `[0]`). e2fsck, for one, exits 1 after fixing. */
  okCodes?: readonly number[] | 'any' | undefined;
  signal?: AbortSignal | undefined;
  /** Killed (SIGKILL) after this long: `EXEC_TIMEOUT`. Default: no limit. */
  timeoutMs?: number | undefined;
  /** Output kept per stream; beyond it only the last bytes are kept. Default 16 MiB. */
  maxOutputBytes?: number | undefined;
  /** Every complete output line as it arrives (for live logs of scripts). */
  onLine?: ((stream: 'stdout' | 'stderr', line: string) => void) | undefined;
  /**
   * Start the program in a process group of its own and kill the whole group on timeout or abort.
   * For scripts: killing only the shell would leave its children holding the output pipes open, so
   * the run would not end until they do.
   */
  processGroup?: boolean | undefined;
}

export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /**
   * Raw stdout, for tools whose output is binary: only its last `maxOutputBytes` (16 MiB by
   * default), so a caller reading a file through a tool must raise the bound.
   */
  stdoutBytes: Buffer;
}

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;
/** `chroot` exits 127 when the command is not found inside the root, 126 when it cannot run it. */
const CHROOT_NOT_FOUND = 127;

/**
 * Runs an external program without a shell and collects its output. The one tool runner of the
 * project: host tools (mkfs, sgdisk, partx, mdadm, efibootmgr) and tools inside a new root
 * (useradd, systemctl, scripts) go through it, so every failure reads the same way: the command
 * line, where it ran, the exit code and the tool's own last words.
 */
export function runTool(
  command: string,
  args: readonly string[],
  options: RunToolOptions = {},
): Promise<ToolResult> {
  const file = options.root === undefined ? command : 'chroot';
  const argv = options.root === undefined ? [...args] : [options.root, command, ...args];
  const where = options.root === undefined ? '' : ` (in ${options.root})`;
  const line = [command, ...args].join(' ');
  const limit = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const okCodes = options.okCodes ?? [0];
  const details = { command, args, root: options.root };

  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(abortError(line, where, details, options.signal.reason));
      return;
    }
    const env = {
      ...(options.cleanEnv === true ? {} : process.env),
      LC_ALL: 'C',
      ...options.env,
    };
    const child = spawn(file, argv, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env,
      detached: options.processGroup === true,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    const stdout = new BoundedOutput(limit, options.onLine && ((l) => options.onLine?.('stdout', l)));
    const stderr = new BoundedOutput(limit, options.onLine && ((l) => options.onLine?.('stderr', l)));
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    if (options.input !== undefined && child.stdin) {
      // A tool that exits without reading its input must not turn into an EPIPE crash.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }

    let ended: 'timeout' | 'abort' | undefined;
    const kill = (why: 'timeout' | 'abort'): void => {
      ended ??= why;
      if (options.processGroup === true && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
          return;
        } catch {
          // The group is already gone: fall through to the child itself.
        }
      }
      child.kill('SIGKILL');
    };
    const timer =
      options.timeoutMs === undefined ? undefined : setTimeout(() => kill('timeout'), options.timeoutMs);
    const onAbort = (): void => kill('abort');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };

    child.on('error', (cause: NodeJS.ErrnoException) => {
      cleanup();
      const missing = cause.code === 'ENOENT';
      reject(
        new ExecError(
          missing ? 'EXEC_MISSING_BINARY' : 'EXEC_SPAWN_FAILED',
          missing
            ? `'${file}' is not installed or not on PATH; install it or run on a host that has it`
            : `cannot run '${line}'${where}: ${cause.message}`,
          { ...details, cause },
        ),
      );
    });
    child.on('close', (code, signal) => {
      cleanup();
      stdout.flush();
      stderr.flush();
      const errText = stderr.text();
      if (ended === 'abort') {
        reject(abortError(line, where, details, options.signal?.reason));
        return;
      }
      if (ended === 'timeout') {
        reject(
          new ExecError(
            'EXEC_TIMEOUT',
            `'${line}'${where} ran longer than ${options.timeoutMs} ms and was killed`,
            {
              ...details,
              stderr: errText,
            },
          ),
        );
        return;
      }
      const exitCode = code ?? -1;
      if (
        options.root !== undefined &&
        exitCode === CHROOT_NOT_FOUND &&
        /No such file|not found/i.test(errText)
      ) {
        reject(
          new ExecError(
            'EXEC_MISSING_BINARY',
            `'${command}' is not installed in ${options.root}: ${lastWords(errText)}`,
            {
              ...details,
              exitCode,
              stderr: errText,
            },
          ),
        );
        return;
      }
      if (signal !== null || (okCodes !== 'any' && !okCodes.includes(exitCode))) {
        const how = signal === null ? `exited with code ${exitCode}` : `was killed by ${signal}`;
        const words = lastWords(errText) || lastWords(stdout.text());
        reject(
          new ExecError('EXEC_FAILED', `'${line}'${where} ${how}${words ? `: ${words}` : ''}`, {
            ...details,
            exitCode,
            signal: signal ?? undefined,
            stderr: errText,
          }),
        );
        return;
      }
      resolve({ exitCode, stdout: stdout.text(), stderr: errText, stdoutBytes: stdout.bytes() });
    });
  });
}

function abortError(
  line: string,
  where: string,
  details: { command: string; args: readonly string[]; root: string | undefined },
  reason: unknown,
): ExecError {
  return new ExecError('EXEC_ABORTED', `'${line}'${where} was cancelled`, { ...details, cause: reason });
}

/** The end of a tool's message, which is where tools say what went wrong. */
function lastWords(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > 2000 ? `…${trimmed.slice(-2000)}` : trimmed;
}

/**
 * Collects one output stream, keeping at most `limit` bytes (the last ones: a tool's error is at
 * the end), and hands complete lines to `onLine` as they arrive.
 */
class BoundedOutput {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = 0;
  private partial = '';
  private readonly limit: number;
  private readonly onLine: ((line: string) => void) | undefined;

  constructor(limit: number, onLine: ((line: string) => void) | undefined) {
    this.limit = limit;
    this.onLine = onLine;
  }

  push(chunk: Buffer): void {
    if (this.onLine) {
      const lines = (this.partial + chunk.toString('utf8')).split('\n');
      this.partial = lines.pop() ?? '';
      for (const l of lines) this.onLine(l);
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      const first = this.chunks.shift()!;
      this.size -= first.length;
      this.dropped += first.length;
    }
  }

  flush(): void {
    if (this.onLine && this.partial !== '') this.onLine(this.partial);
    this.partial = '';
  }

  bytes(): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.length > this.limit ? all.subarray(all.length - this.limit) : all;
  }

  text(): string {
    const text = this.bytes().toString('utf8');
    return this.dropped > 0 ? `[${this.dropped} earlier bytes dropped]\n${text}` : text;
  }
}
