import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { patternBytes } from './fault-server.ts';

/**
 * An HTTP server that attacks its client: endless bodies, 1-byte trickles, stalls after every few
 * bytes, lying Content-Length, redirects to `file:`/`data:`, slow headers. Each path gets one
 * behaviour; everything else is 404. It listens on loopback port 0 and keeps its own memory flat
 * (bodies are generated from one reused buffer, with backpressure), so a test can measure what the
 * *client* holds. `fault-server.ts` is the flaky-but-honest CDN; this one is malicious.
 */

export type Hostile =
  /**
   * Status (default 200) and headers, then body bytes forever without Content-Length (chunked): as
   * fast as the client reads, or `bytesPerTick` every `tickMs`.
   */
  | {
      kind: 'endless';
      status?: number;
      headers?: Record<string, string>;
      fill?: string;
      bytesPerTick?: number;
      tickMs?: number;
    }
  /**
   * An object of `size` pattern bytes (Range honoured, HEAD answered) sent `bytesPerTick` bytes
   * every `tickMs`: a 1 byte/s server is `{ bytesPerTick: 1, tickMs: 1000 }`.
   */
  | { kind: 'trickle'; size: number; seed?: number; bytesPerTick?: number; tickMs?: number }
  /** An object of `size` bytes (Range honoured) whose every GET sends `after` bytes, then nothing. */
  | { kind: 'stall-after'; size: number; seed?: number; after: number }
  /** Status (default 200) with this literal Content-Length header and a short body. */
  | {
      kind: 'content-length';
      value: string;
      status?: number;
      headers?: Record<string, string>;
      body?: string;
    }
  /** A redirect (default 302) to `location`, verbatim. */
  | { kind: 'redirect'; location: string; status?: number }
  /** The status line and headers one byte every `tickMs`, never finishing. */
  | { kind: 'slow-headers'; tickMs: number }
  /** A plain answer. */
  | { kind: 'fixed'; status: number; headers?: Record<string, string>; body?: string | Buffer };

export interface HostileRecord {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** Body bytes the server wrote for this request (what a client may have had to hold). */
  bytesSent: number;
}

export interface HostileServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly requests: HostileRecord[];
  /** Sets (or replaces) what `path` does. */
  route(path: string, behaviour: Hostile): void;
  /** Body bytes written so far, over all requests. */
  bytesSent(): number;
  stop(): Promise<void>;
}

/** The safety valve: even an "endless" body stops here, so a client without limits fails a test instead of the machine. */
export const ENDLESS_CAP = 1024 * 1024 * 1024;

const CHUNK = 64 * 1024;

/**
 * Serves `behaviour` on one request. Exported so the hostile registry can answer any route with
 * the same attacks. Resolves when the response is over (or the client hung up).
 */
export async function respondHostile(
  req: IncomingMessage,
  res: ServerResponse,
  behaviour: Hostile,
  record: { bytesSent: number } = { bytesSent: 0 },
): Promise<void> {
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  const head = req.method === 'HEAD';
  /** Writes with backpressure; false once the client is gone. */
  const write = async (chunk: Buffer): Promise<boolean> => {
    if (closed) return false;
    record.bytesSent += chunk.length;
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
      });
    }
    return !closed;
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        res.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      res.once('close', done);
    });
  switch (behaviour.kind) {
    case 'endless': {
      res.writeHead(behaviour.status ?? 200, {
        'content-type': 'application/octet-stream',
        ...behaviour.headers,
      });
      if (head) {
        res.end();
        return;
      }
      const slow = behaviour.tickMs !== undefined;
      const fill = Buffer.alloc(slow ? (behaviour.bytesPerTick ?? 1) : CHUNK, behaviour.fill ?? 'A');
      let sent = 0;
      while (sent < ENDLESS_CAP && (await write(fill))) {
        sent += fill.length;
        if (slow) await sleep(behaviour.tickMs!);
      }
      if (!closed) res.end();
      return;
    }
    case 'trickle':
    case 'stall-after': {
      const { start, end, status, headers } = rangeOf(req, behaviour.size);
      if (status === 416) {
        res.writeHead(416, headers).end();
        return;
      }
      res.writeHead(status, headers);
      if (head) {
        res.end();
        return;
      }
      const seed = behaviour.seed ?? 1;
      let position = start;
      if (behaviour.kind === 'stall-after') {
        const stop = Math.min(end + 1, start + behaviour.after);
        if (stop > position) await write(patternBytes(position, stop - position, seed));
        position = stop;
        if (position > end) {
          res.end();
          return;
        }
        await sleep(ENDLESS_CAP); // until the client hangs up
        return;
      }
      const step = behaviour.bytesPerTick ?? 1;
      while (position <= end && !closed) {
        const n = Math.min(step, end + 1 - position);
        if (!(await write(patternBytes(position, n, seed)))) return;
        position += n;
        if (position <= end) await sleep(behaviour.tickMs ?? 1000);
      }
      if (!closed) res.end();
      return;
    }
    case 'content-length': {
      // Written raw: node's own HTTP layer must not second-guess the lie.
      const socket = req.socket;
      const body = head ? '' : (behaviour.body ?? 'short body\n');
      const lines = Object.entries({
        'Content-Type': 'application/octet-stream',
        ...behaviour.headers,
        'Content-Length': behaviour.value,
      }).map(([name, value]) => `${name}: ${value}\r\n`);
      const raw = `HTTP/1.1 ${behaviour.status ?? 200} Hostile\r\n${lines.join('')}\r\n${body}`;
      record.bytesSent += Buffer.byteLength(body);
      socket.write(raw);
      // Keep the connection open, as a hostile server would; the client must decide.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      socket.destroy();
      return;
    }
    case 'redirect':
      res.writeHead(behaviour.status ?? 302, { location: behaviour.location, 'content-length': '0' }).end();
      return;
    case 'slow-headers': {
      const socket = req.socket;
      const text = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nX-Padding: ');
      for (let i = 0; !socket.destroyed; i++) {
        const byte = i < text.length ? text.subarray(i, i + 1) : Buffer.from('a');
        record.bytesSent += 1;
        socket.write(byte);
        await new Promise((resolve) => setTimeout(resolve, behaviour.tickMs));
        if (i > 16_000) break; // below any sane header limit a client must have given up long ago
      }
      socket.destroy();
      return;
    }
    case 'fixed': {
      const body = behaviour.body === undefined ? Buffer.alloc(0) : Buffer.from(behaviour.body);
      res.writeHead(behaviour.status, { 'content-length': String(body.length), ...behaviour.headers });
      if (!head) await write(body);
      res.end();
      return;
    }
  }
}

/** Range handling shared by the object behaviours: 206 for one satisfiable range, else 200. */
function rangeOf(
  req: IncomingMessage,
  size: number,
): { start: number; end: number; status: number; headers: Record<string, string> } {
  const base = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', etag: '"hostile"' };
  const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range?.trim() ?? '');
  if (!match)
    return { start: 0, end: size - 1, status: 200, headers: { ...base, 'content-length': String(size) } };
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || start > end)
    return { start, end, status: 416, headers: { ...base, 'content-range': `bytes */${size}` } };
  return {
    start,
    end,
    status: 206,
    headers: {
      ...base,
      'content-length': String(end - start + 1),
      'content-range': `bytes ${start}-${end}/${size}`,
    },
  };
}

/** Starts a hostile server on 127.0.0.1, port 0. */
export async function startHostileHttp(routes: Record<string, Hostile> = {}): Promise<HostileServer> {
  const table = new Map(Object.entries(routes));
  const requests: HostileRecord[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://hostile').pathname;
    const record: HostileRecord = { method: req.method ?? 'GET', path, headers: req.headers, bytesSent: 0 };
    requests.push(record);
    const behaviour = table.get(path) ?? { kind: 'fixed', status: 404, body: 'not found\n' };
    respondHostile(req, res, behaviour, record).catch(() => res.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    route(path, behaviour) {
      table.set(path, behaviour);
    },
    bytesSent: () => requests.reduce((sum, r) => sum + r.bytesSent, 0),
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
