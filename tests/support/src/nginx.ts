import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './free-port.ts';

export interface NginxOptions {
  /** Directory served at `/`. Default: an empty `www` directory inside the server's temp dir. */
  root?: string;
  /** PEM certificate and key: the server speaks HTTPS. */
  tls?: { cert: string; key: string };
  /** Extra directives placed inside the `server {}` block (locations, headers...). */
  serverConfig?: string;
}

export interface NginxServer {
  /** `http://127.0.0.1:PORT` (or https). */
  readonly url: string;
  readonly port: number;
  /** The served directory. */
  readonly root: string;
  /** Temp dir holding config, logs and pid. */
  readonly dir: string;
  /** The access log so far (method, URI, status, Range header, bytes sent). */
  accessLog(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts a real nginx on a free loopback port, configured from a temp dir: foreground, single
 * process, logs and pid inside the temp dir. nginx serves static files with `Accept-Ranges: bytes`,
 * strong ETags and 206 responses, which is what the range reader is tested against.
 */
export async function startNginx(options: NginxOptions = {}): Promise<NginxServer> {
  const dir = await mkdtemp(join(tmpdir(), 'trident-nginx-'));
  let proc: ManagedProcess | undefined;
  try {
    const root = options.root ?? join(dir, 'www');
    await mkdir(root, { recursive: true });
    await mkdir(join(dir, 'tmp'), { recursive: true });
    const port = await freePort();
    let tls = '';
    if (options.tls) {
      await writeFile(join(dir, 'cert.pem'), options.tls.cert);
      await writeFile(join(dir, 'key.pem'), options.tls.key, { mode: 0o600 });
      tls = `ssl_certificate ${join(dir, 'cert.pem')};\n    ssl_certificate_key ${join(dir, 'key.pem')};`;
    }
    const user = process.getuid?.() === 0 ? 'user root;' : '';
    const conf = `${user}
daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
  log_format ranges '$request_method $request_uri $status "$http_range" $body_bytes_sent';
  access_log ${join(dir, 'access.log')} ranges;
  client_body_temp_path ${join(dir, 'tmp', 'body')};
  proxy_temp_path ${join(dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'tmp', 'scgi')};
  default_type application/octet-stream;
  sendfile on;
  keepalive_timeout 30s;
  server {
    listen 127.0.0.1:${port}${options.tls ? ' ssl' : ''};
    server_name localhost;
    ${tls}
    root ${root};
    ${options.serverConfig ?? ''}
  }
}
`;
    const confPath = join(dir, 'nginx.conf');
    await writeFile(confPath, conf);
    const started = spawnManaged('nginx', ['-p', dir, '-c', confPath, '-e', join(dir, 'error.log')]);
    proc = started;
    try {
      await waitForPort(port, 10_000, () => started.alive());
    } catch (err) {
      const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
      throw new Error(`nginx did not start: ${(err as Error).message}\n${started.output()}\n${log}`);
    }
    return {
      url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
      port,
      root,
      dir,
      accessLog: () => readFile(join(dir, 'access.log'), 'utf8').catch(() => ''),
      async stop() {
        await started.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await proc?.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A self-signed certificate for 127.0.0.1 / localhost, made with the openssl CLI (test fixture). */
export async function makeSelfSignedCert(): Promise<{ cert: string; key: string }> {
  const { execFile } = await import('node:child_process');
  const dir = await mkdtemp(join(tmpdir(), 'trident-cert-'));
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '2',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        (err) => (err ? reject(err) : resolve()),
      );
    });
    return {
      cert: await readFile(join(dir, 'cert.pem'), 'utf8'),
      key: await readFile(join(dir, 'key.pem'), 'utf8'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A child process whose stderr is kept (last 64 KiB) for error messages, and that can be stopped. */
export interface ManagedProcess {
  readonly child: ChildProcess;
  alive(): boolean;
  output(): string;
  stop(): Promise<void>;
}

export function spawnManaged(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ManagedProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-65536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (err) => {
      log += `\nspawn error: ${err.message}`;
      exited = true;
      resolve();
    });
  });
  return {
    child,
    alive: () => !exited,
    output: () => log,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    },
  };
}
