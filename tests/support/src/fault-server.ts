import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A small HTTP server of our own that serves deterministic content of any size (generated on the
 * fly, never stored) and injects faults on request: resets at an offset, short bodies, stalls,
 * 200 instead of 206, a wrong Content-Range, a changed ETag, error statuses. nginx is the
 * well-behaved reference; this server is the flaky CDN.
 */

/** Deterministic bytes for `[offset, offset+length)`: each 4-byte word depends on its position. */
export function patternBytes(offset: number, length: number, seed = 1): Buffer {
  const start = offset - (offset % 4);
  const words = Math.ceil((offset + length - start) / 4);
  const out = Buffer.allocUnsafe(words * 4);
  const view = new Uint32Array(out.buffer, out.byteOffset, words);
  let w = start / 4;
  for (let i = 0; i < words; i++, w++) {
    let x = Math.imul((w ^ seed) >>> 0, 0x9e3779b1);
    x ^= x >>> 15;
    view[i] = Math.imul(x, 0x85ebca6b) ^ (w >>> 7);
  }
  return out.subarray(offset - start, offset - start + length);
}

export type Fault =
  /** Send `after` body bytes, then reset the TCP connection (RST). */
  | { kind: 'reset'; after: number }
  /** Send `after` body bytes, then close cleanly although Content-Length promised more. */
  | { kind: 'short'; after: number }
  /** Send `after` body bytes, then send nothing for `ms` (default: until the client hangs up). */
  | { kind: 'stall'; after: number; ms?: number }
  /** Answer with this status (and headers) instead of the content. */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Ignore the Range header: 200 with the whole body. */
  | { kind: 'ignore-range' }
  /** 206 whose Content-Range (and bytes) start `shift` bytes after the requested start. */
  | { kind: 'wrong-range'; shift?: number }
  /** 206 with a partial response: at most `max` bytes, Content-Range telling the truth. */
  | { kind: 'partial'; max: number };

export interface FaultRule {
  fault: Fault;
  /** Which requests it applies to. Default `GET`. */
  method?: 'GET' | 'HEAD' | 'any';
  /** Apply to every matching request from now on (permanent failure), instead of once. */
  sticky?: boolean;
}

export interface RequestRecord {
  method: string;
  url: string;
  range: string | undefined;
  ifRange: string | undefined;
  authorization: string | undefined;
  status: number;
  /** Body bytes written by the server for this request. */
  bytesSent: number;
  fault: Fault['kind'] | undefined;
}

export interface FaultServerOptions {
  size: number;
  seed?: number;
  etag?: string;
  /** false: no Range support at all (no Accept-Ranges, 200 to every GET), like Python's http.server. */
  ranges?: boolean;
  /** false: HEAD answered 405 (some presigned-URL stores). */
  head?: boolean;
  /** Handles a request before the content logic; return true when it answered. */
  intercept?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export interface FaultServer {
  readonly url: string;
  readonly port: number;
  readonly requests: RequestRecord[];
  /** Queue faults; each matching request consumes the next one (sticky ones stay). */
  inject(...rules: Array<FaultRule | Fault>): void;
  clearFaults(): void;
  setEtag(etag: string | undefined): void;
  stop(): Promise<void>;
}

const CHUNK = 64 * 1024;

export async function startFaultServer(options: FaultServerOptions): Promise<FaultServer> {
  const size = options.size;
  const seed = options.seed ?? 1;
  let etag: string | undefined = options.etag ?? '"v1"';
  const ranges = options.ranges ?? true;
  let queue: FaultRule[] = [];
  const requests: RequestRecord[] = [];
  const sockets = new Set<Socket>();

  const takeFault = (method: string): Fault | undefined => {
    const index = queue.findIndex((r) => (r.method ?? 'GET') === 'any' || (r.method ?? 'GET') === method);
    if (index < 0) return undefined;
    const rule = queue[index]!;
    if (!rule.sticky) queue.splice(index, 1);
    return rule.fault;
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const record: RequestRecord = {
      method,
      url: req.url ?? '',
      range: req.headers.range,
      ifRange: req.headers['if-range'] as string | undefined,
      authorization: req.headers.authorization,
      status: 0,
      bytesSent: 0,
      fault: undefined,
    };
    requests.push(record);
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    res.on('close', () => {
      record.status ||= res.statusCode;
    });
    if (options.intercept?.(req, res)) {
      record.status = res.statusCode;
      return;
    }
    const fault = takeFault(method);
    record.fault = fault?.kind;
    if (method === 'HEAD' && options.head === false) {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (fault?.kind === 'status') {
      const body = fault.body ?? `injected ${fault.status}\n`;
      res.writeHead(fault.status, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(body),
        ...fault.headers,
      });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    const base: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (etag) base.etag = etag;
    if (ranges) base['accept-ranges'] = 'bytes';
    if (method === 'HEAD') {
      res.writeHead(200, { ...base, 'content-length': String(size) }).end();
      return;
    }
    if (method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = ranges && fault?.kind !== 'ignore-range' ? parseRange(req.headers.range, size) : undefined;
    const ifRange = req.headers['if-range'];
    const rangeApplies = range !== undefined && (ifRange === undefined || ifRange === etag);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...base, 'content-range': `bytes */${size}` }).end();
      return;
    }
    if (rangeApplies && range) {
      status = 206;
      start = range.start;
      end = range.end;
      if (fault?.kind === 'partial') end = Math.min(end, start + fault.max - 1);
      if (fault?.kind === 'wrong-range') {
        const shift = fault.shift ?? 512;
        start = Math.min(start + shift, size - 1);
        end = Math.max(end, start);
      }
    }
    const length = end - start + 1;
    const headers: Record<string, string> = { ...base, 'content-length': String(length) };
    if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(status, headers);
    const stopAt = fault && 'after' in fault ? Math.min(fault.after, length) : length;
    let sent = 0;
    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    while (sent < stopAt && !closed) {
      const n = Math.min(CHUNK, stopAt - sent);
      const chunk = patternBytes(start + sent, n, seed);
      const flushed = new Promise<void>((resolve) => res.write(chunk, () => resolve()));
      sent += n;
      record.bytesSent = sent;
      if (res.writableNeedDrain)
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.once('drain', done);
          res.once('close', done);
        });
      if (sent >= stopAt) await flushed;
    }
    if (closed) return;
    if (sent >= length) {
      res.end();
      return;
    }
    const socket = res.socket;
    if (fault?.kind === 'reset') {
      // An RST makes the kernel discard the client's unread receive queue. Give the client time
      // to read what was sent, so the fault models "connection lost after byte N".
      await new Promise((r) => setTimeout(r, 200));
      socket?.resetAndDestroy();
    } else if (fault?.kind === 'short') {
      socket?.end();
    } else if (fault?.kind === 'stall') {
      await new Promise<void>((resolve) => {
        const timer = fault.ms === undefined ? undefined : setTimeout(resolve, fault.ms);
        res.once('close', () => {
          if (timer) clearTimeout(timer);
          resolve();
        });
      });
      if (!closed) {
        while (sent < length && !closed) {
          const n = Math.min(CHUNK, length - sent);
          const ok = res.write(patternBytes(start + sent, n, seed));
          sent += n;
          record.bytesSent = sent;
          if (!ok) await new Promise((r) => res.once('drain', r));
        }
        res.end();
      }
    }
  }

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    inject(...rules) {
      for (const rule of rules) queue.push('fault' in rule ? rule : { fault: rule });
    },
    clearFaults() {
      queue = [];
    },
    setEtag(value) {
      etag = value;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, a, b] = match;
  if (a === '' && b === '') return undefined;
  let start: number;
  let end: number;
  if (a === '') {
    start = Math.max(0, size - Number(b));
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}
