import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type Hostile, respondHostile } from './hostile-http.ts';

/**
 * A small OCI distribution registry of our own for hostile-input tests: it serves what the test
 * stores (any bytes as a manifest, malformed JSON included, any blob) under the real API paths, with
 * Basic or Bearer-token auth, and any route can be replaced by an attack from `hostile-http.ts`
 * (endless manifest, endless token response, trickled blob, 500 with an endless error body...).
 * The distribution registry (`registry.ts`) is the well-behaved reference; this one lies.
 */

export interface HostileRegistryOptions {
  /** `none` (open), `basic` (htpasswd-like) or `token` (Bearer tokens from `/token` on this server). */
  auth?: 'none' | 'basic' | 'token';
  /** user -> password for `basic` and credentialed `token` requests. */
  users?: Record<string, string>;
  /** `token` mode: whether `/token` hands out tokens without credentials. Default true. */
  anonymous?: boolean;
}

export interface RegistryRequest {
  method: string;
  path: string;
  query: string;
  accept: string | undefined;
  authorization: string | undefined;
  /** Every request header, as node parsed them. */
  headers: IncomingMessage['headers'];
  /** Body bytes the server wrote. */
  bytesSent: number;
}

export type RegistryHandler = Hostile | ((req: IncomingMessage, res: ServerResponse) => void);

export interface HostileRegistry {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** `127.0.0.1:PORT`, as written in references. */
  readonly host: string;
  readonly requests: RegistryRequest[];
  /** Stores a blob; returns its `sha256:` digest. */
  putBlob(bytes: Buffer): string;
  /**
   * Stores a manifest under `ref` (a tag) and its digest; `body` may be an object (serialised) or
   * raw text/bytes (malformed on purpose). Returns the digest.
   */
  putManifest(repo: string, ref: string, body: object | string | Buffer, mediaType: string): string;
  /** Answers `method` (or any, `*`) on paths matching `path` with `handler`, before the registry logic. */
  route(method: string, path: string | RegExp, handler: RegistryHandler): void;
  /** Body bytes written so far. */
  bytesSent(): number;
  stop(): Promise<void>;
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Starts the registry on 127.0.0.1, port 0. */
export async function startHostileRegistry(options: HostileRegistryOptions = {}): Promise<HostileRegistry> {
  const mode = options.auth ?? 'none';
  const users = options.users ?? {};
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  const uploads = new Map<string, Buffer[]>();
  const tokens = new Set<string>();
  const routes: Array<{ method: string; path: string | RegExp; handler: RegistryHandler }> = [];
  const requests: RegistryRequest[] = [];
  const sockets = new Set<Socket>();
  let port = 0;

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = Buffer.from(JSON.stringify(body));
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(text.length),
      ...headers,
    });
    res.end(text);
  };
  const basicUser = (authorization: string | undefined): string | undefined | false => {
    if (!authorization?.startsWith('Basic ')) return undefined;
    const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = decoded.slice(0, colon);
    return users[user] !== undefined && users[user] === decoded.slice(colon + 1) ? user : false;
  };
  const authorized = (req: IncomingMessage, res: ServerResponse): boolean => {
    const header = req.headers.authorization;
    if (mode === 'none') return true;
    if (mode === 'basic') {
      if (basicUser(header)) return true;
      json(
        res,
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
        {
          'www-authenticate': 'Basic realm="hostile-registry"',
        },
      );
      return false;
    }
    if (header?.startsWith('Bearer ') && tokens.has(header.slice(7))) return true;
    json(
      res,
      401,
      { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
      {
        'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="hostile-registry"`,
      },
    );
    return false;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, record: RegistryRequest) => {
    const method = req.method ?? 'GET';
    const path = record.path;
    for (const route of routes) {
      const matches = typeof route.path === 'string' ? route.path === path : route.path.test(path);
      if (matches && (route.method === '*' || route.method === method)) {
        if (typeof route.handler === 'function') route.handler(req, res);
        else await respondHostile(req, res, route.handler, record);
        return;
      }
    }
    if (path === '/token') {
      const user = basicUser(req.headers.authorization);
      if (user === false) {
        json(res, 401, { details: 'incorrect username or password' });
        return;
      }
      if (user === undefined && options.anonymous === false) {
        json(res, 401, { details: 'authentication required' });
        return;
      }
      const token = randomBytes(16).toString('hex');
      tokens.add(token);
      json(res, 200, { token, expires_in: 300 });
      return;
    }
    if (!authorized(req, res)) {
      req.resume();
      return;
    }
    if (path === '/v2/' || path === '/v2') {
      json(res, 200, {});
      return;
    }
    const upload = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(path);
    if (upload) {
      if (method === 'POST') {
        const id = randomBytes(8).toString('hex');
        uploads.set(id, []);
        req.resume();
        res.writeHead(202, { location: `/v2/${upload[1]}/blobs/uploads/${id}`, 'content-length': '0' }).end();
        return;
      }
      const parts = uploads.get(upload[2] ?? '');
      if (!parts) {
        json(res, 404, { errors: [{ code: 'BLOB_UPLOAD_UNKNOWN' }] });
        return;
      }
      for await (const chunk of req) parts.push(chunk as Buffer);
      const bytes = Buffer.concat(parts);
      const digest = new URLSearchParams(record.query).get('digest');
      if (digest !== sha256(bytes)) {
        json(res, 400, { errors: [{ code: 'DIGEST_INVALID' }] });
        return;
      }
      blobs.set(digest, bytes);
      res.writeHead(201, { location: `/v2/${upload[1]}/blobs/${digest}`, 'content-length': '0' }).end();
      return;
    }
    const object = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    if (!object) {
      json(res, 404, { errors: [{ code: 'NAME_UNKNOWN' }] });
      return;
    }
    const [, repo, kind, ref] = object as unknown as [string, string, string, string];
    if (kind === 'manifests') {
      if (method === 'PUT') {
        const parts: Buffer[] = [];
        for await (const chunk of req) parts.push(chunk as Buffer);
        const digest = store(repo, ref, Buffer.concat(parts), req.headers['content-type'] ?? '');
        res.writeHead(201, { 'docker-content-digest': digest, 'content-length': '0' }).end();
        return;
      }
      const manifest = manifests.get(`${repo}:${ref}`);
      if (!manifest) {
        json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: `manifest ${ref} unknown` }] });
        return;
      }
      res.writeHead(200, {
        'content-type': manifest.mediaType,
        'content-length': String(manifest.bytes.length),
        'docker-content-digest': sha256(manifest.bytes),
      });
      res.end(method === 'HEAD' ? undefined : manifest.bytes);
      return;
    }
    const blob = blobs.get(ref);
    if (!blob) {
      json(res, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: `blob ${ref} unknown` }] });
      return;
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const headers = {
      'content-type': 'application/octet-stream',
      'accept-ranges': 'bytes',
      'docker-content-digest': ref,
      etag: `"${ref}"`,
    };
    if (range) {
      const start = Number(range[1]);
      const end = range[2] === '' ? blob.length - 1 : Math.min(Number(range[2]), blob.length - 1);
      res.writeHead(206, {
        ...headers,
        'content-length': String(end - start + 1),
        'content-range': `bytes ${start}-${end}/${blob.length}`,
      });
      record.bytesSent += end - start + 1;
      res.end(method === 'HEAD' ? undefined : blob.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': String(blob.length) });
    record.bytesSent += blob.length;
    res.end(method === 'HEAD' ? undefined : blob);
  };

  const store = (repo: string, ref: string, bytes: Buffer, mediaType: string): string => {
    const digest = sha256(bytes);
    manifests.set(`${repo}:${ref}`, { bytes, mediaType });
    manifests.set(`${repo}:${digest}`, { bytes, mediaType });
    return digest;
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://registry');
    const record: RegistryRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      accept: req.headers.accept,
      authorization: req.headers.authorization,
      headers: req.headers,
      bytesSent: 0,
    };
    requests.push(record);
    handle(req, res, record).catch(() => res.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });

  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    putBlob(bytes) {
      const digest = sha256(bytes);
      blobs.set(digest, bytes);
      return digest;
    },
    putManifest(repo, ref, body, mediaType) {
      const bytes = Buffer.isBuffer(body)
        ? body
        : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      return store(repo, ref, bytes, mediaType);
    },
    route(method, path, handler) {
      routes.unshift({ method, path, handler });
    },
    bytesSent: () => requests.reduce((sum, r) => sum + r.bytesSent, 0),
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
