/**
 * A loopback HTTP(S) server for one COSI file, written for the tests: byte ranges like nginx, plus
 * what nginx cannot do for us: it records every request's headers (to prove options reach the
 * wire), and it can hold the image data back (to keep a run inside its write phase while a test
 * interrupts it or starts a second run). It runs in the test process: drive the CLI against it with
 * `tridentAsync`, never the synchronous `trident` (which would block the server's event loop).
 */
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import {
  createServer as createHttp,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttps } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openCosi } from '@trident/cosi-format';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export interface CosiServer {
  /** `http(s)://127.0.0.1:PORT/<name>` */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Holds back every request for partition-image data until `release()`. */
  hold(): void;
  release(): void;
  /** Resolves when a held request arrived (the run is writing). */
  held(): Promise<void>;
  stop(): Promise<void>;
}

export interface TlsFiles {
  key: string;
  cert: string;
}

/** A self-signed certificate for 127.0.0.1 (openssl), for `--ca-file`. */
export async function selfSignedCertificate(dir: string): Promise<TlsFiles> {
  const key = join(dir, 'server-key.pem');
  const cert = join(dir, 'server-cert.pem');
  await promisify(execFile)('openssl', [
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
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { key, cert };
}

export async function serveCosi(file: string, options: { tls?: TlsFiles } = {}): Promise<CosiServer> {
  const size = (await stat(file)).size;
  const name = file.split('/').pop() ?? 'image.cosi';
  const reader = await openCosi(file);
  const imageOffsets = new Set(reader.metadata.images.map((fs) => reader.member(fs.image.path).dataOffset));
  await reader.close();
  const requests: RecordedRequest[] = [];
  let holding = false;
  let gate: { promise: Promise<void>; open: () => void } | undefined;
  let arrived: (() => void) | undefined;
  let arrivedPromise = new Promise<void>((resolve) => (arrived = resolve));
  const content = await readFile(file);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (req.url !== `/${name}`) {
      res.writeHead(404).end();
      return;
    }
    const base = { 'accept-ranges': 'bytes', etag: '"cosi-1"', 'content-type': 'application/octet-stream' };
    const range = /^bytes=(\d+)-(\d*)$/u.exec(req.headers.range ?? '');
    let start = 0;
    let end = size - 1;
    if (range) {
      start = Number(range[1]);
      end = range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1);
      if (start > end) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
    }
    if (req.method === 'GET' && holding && imageOffsets.has(start) && gate) {
      arrived?.();
      await gate.promise;
    }
    const headers = {
      ...base,
      'content-length': String(end - start + 1),
      ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    };
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD') res.end();
    else res.end(content.subarray(start, end + 1));
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch(() => res.destroy());
  };
  const server: Server = options.tls
    ? createHttps({ key: await readFile(options.tls.key), cert: await readFile(options.tls.cert) }, listener)
    : createHttp(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}/${name}`,
    requests,
    hold() {
      holding = true;
      let open = (): void => undefined;
      const promise = new Promise<void>((resolve) => (open = resolve));
      gate = { promise, open };
      arrivedPromise = new Promise<void>((resolve) => (arrived = resolve));
    },
    release() {
      holding = false;
      gate?.open();
      gate = undefined;
    },
    held: () => arrivedPromise,
    async stop() {
      holding = false;
      gate?.open();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
