import { execFile } from 'node:child_process';
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './free-port.ts';
import { type ManagedProcess, spawnManaged } from './nginx.ts';

export type RegistryAuthMode = 'none' | 'htpasswd' | 'token';

export interface RegistryOptions {
  /** `none` (open registry), `htpasswd` (Basic auth) or `token` (Bearer tokens from a token server). */
  auth?: RegistryAuthMode;
  /** Users for `htpasswd`, and for `token` (credentialed token requests). */
  users?: Record<string, string>;
  /** `token` mode: repositories anonymous users may pull (prefix match). Default: everything. */
  anonymousPull?: string[];
  /**
   * `token` mode: token lifetime in seconds. distribution 2.8 allows 60 s of clock-skew leeway
   * past `exp`, and `exp` is counted from the current whole second, so `-58` gives a token the
   * registry accepts for 1 to 2 s after it is issued (refresh tests). `-59` would give 0 to 1 s: a
   * token issued just before a second boundary is already expired when used.
   */
  tokenTtlSeconds?: number;
  /** Base URL blob GETs are redirected to (the distribution `redirect` storage middleware). */
  redirectBaseUrl?: string;
  /** Filesystem storage root to use (e.g. a directory nginx serves). Default: inside the temp dir. */
  storageDir?: string;
}

export interface TokenRequestLog {
  scope: string | null;
  service: string | null;
  user: string | null;
  method: string;
}

export interface RegistryServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** `127.0.0.1:PORT`, as used in image references. */
  readonly host: string;
  /** Filesystem storage root (blobs at docker/registry/v2/blobs/...). */
  readonly storageDir: string;
  /** Token server requests so far (token mode). */
  readonly tokenRequests: TokenRequestLog[];
  stop(): Promise<void>;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd}: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
}

/**
 * bcrypt hash for the registry's htpasswd file. distribution accepts only bcrypt; apache2-utils is
 * not installed, so the libc crypt(3) (libxcrypt supports `$2b$`) is reached through perl, which is
 * Essential on Debian.
 */
async function bcrypt(password: string): Promise<string> {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const salt = [...randomBytes(22)].map((b) => alphabet[b % 64]).join('');
  const out = await run('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, `$2b$05$${salt}`]);
  if (!out.startsWith('$2b$')) throw new Error(`crypt(3) did not produce a bcrypt hash: ${out}`);
  return out;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * Starts the distribution registry (Debian `docker-registry`) on a free loopback port with
 * filesystem storage in a temp dir. In `token` mode a small token server (this process) issues
 * RS256 JWTs whose signing certificate is the registry's `rootcertbundle`.
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<RegistryServer> {
  const mode = options.auth ?? 'none';
  const dir = await mkdtemp(join(tmpdir(), 'trident-registry-'));
  let proc: ManagedProcess | undefined;
  let tokenServer: Server | undefined;
  const tokenRequests: TokenRequestLog[] = [];
  const closeToken = () => new Promise<void>((r) => (tokenServer ? tokenServer.close(() => r()) : r()));
  try {
    const storageDir = options.storageDir ?? join(dir, 'storage');
    await mkdir(storageDir, { recursive: true });
    const port = await freePort();
    let auth = '';
    if (mode === 'htpasswd') {
      const lines: string[] = [];
      for (const [user, password] of Object.entries(options.users ?? {}))
        lines.push(`${user}:${await bcrypt(password)}`);
      await writeFile(join(dir, 'htpasswd'), `${lines.join('\n')}\n`);
      auth = `auth:\n  htpasswd:\n    realm: trident-test\n    path: ${join(dir, 'htpasswd')}\n`;
    } else if (mode === 'token') {
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=trident-test-token',
        '-keyout',
        join(dir, 'token-key.pem'),
        '-out',
        join(dir, 'token-cert.pem'),
      ]);
      const certPem = await readFile(join(dir, 'token-cert.pem'), 'utf8');
      const key = createPrivateKey(await readFile(join(dir, 'token-key.pem')));
      const certDer = Buffer.from(certPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
      tokenServer = createServer((req, res) =>
        handleToken(req, res, { key, certDer, options, tokenRequests }),
      );
      const tokenPort = await new Promise<number>((resolve) => {
        tokenServer!.listen(0, '127.0.0.1', () => resolve((tokenServer!.address() as { port: number }).port));
      });
      auth = `auth:\n  token:\n    realm: http://127.0.0.1:${tokenPort}/token\n    service: trident-test-registry\n    issuer: trident-test-issuer\n    rootcertbundle: ${join(dir, 'token-cert.pem')}\n`;
    }
    const middleware = options.redirectBaseUrl
      ? `middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: ${options.redirectBaseUrl}\n`
      : '';
    const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${storageDir}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
  secret: ${randomBytes(16).toString('hex')}
${auth}${middleware}`;
    await writeFile(join(dir, 'config.yml'), config);
    const started = spawnManaged('docker-registry', ['serve', join(dir, 'config.yml')], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
    });
    proc = started;
    try {
      await waitForPort(port, 15_000, () => started.alive());
    } catch (err) {
      throw new Error(`docker-registry did not start: ${(err as Error).message}\n${started.output()}`);
    }
    return {
      url: `http://127.0.0.1:${port}`,
      host: `127.0.0.1:${port}`,
      storageDir,
      tokenRequests,
      async stop() {
        await started.stop();
        await closeToken();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await proc?.stop();
    await closeToken();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function handleToken(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: {
    key: ReturnType<typeof createPrivateKey>;
    certDer: Buffer;
    options: RegistryOptions;
    tokenRequests: TokenRequestLog[];
  },
): void {
  const url = new URL(req.url ?? '/', 'http://token');
  const scope = url.searchParams.get('scope');
  const service = url.searchParams.get('service');
  let user: string | null = null;
  const header = req.headers.authorization;
  if (header?.startsWith('Basic ')) {
    const [name, ...rest] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
    const password = rest.join(':');
    if (!name || ctx.options.users?.[name] !== password) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      ctx.tokenRequests.push({ scope, service, user: name ?? null, method: req.method ?? '' });
      return;
    }
    user = name;
  }
  ctx.tokenRequests.push({ scope, service, user, method: req.method ?? '' });
  const access: Array<{ type: string; name: string; actions: string[] }> = [];
  for (const part of (scope ?? '').split(' ').filter(Boolean)) {
    const [type, name, actions] = part.split(':');
    if (type !== 'repository' || !name || !actions) continue;
    const wanted = actions.split(',');
    const anonymousOk = (ctx.options.anonymousPull ?? ['']).some((p) => name.startsWith(p));
    const granted = user ? wanted : anonymousOk ? wanted.filter((a) => a === 'pull') : [];
    access.push({ type, name, actions: granted });
  }
  const now = Math.floor(Date.now() / 1000);
  const ttl = ctx.options.tokenTtlSeconds ?? 300;
  const head = { alg: 'RS256', typ: 'JWT', x5c: [ctx.certDer.toString('base64')] };
  const claims = {
    iss: 'trident-test-issuer',
    sub: user ?? '',
    aud: service ?? 'trident-test-registry',
    exp: now + ttl,
    nbf: now - 10,
    iat: now,
    jti: randomBytes(8).toString('hex'),
    access,
  };
  const signingInput = `${base64url(JSON.stringify(head))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(signingInput), ctx.key);
  const token = `${signingInput}.${base64url(signature)}`;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      token,
      access_token: token,
      expires_in: ttl,
      issued_at: new Date(now * 1000).toISOString(),
    }),
  );
}
