import type { IncomingHttpHeaders } from 'node:http';
import { formatBytes } from '@trident/units';
import { RemoteSourceError, redactUrl } from './errors.ts';
import { type ResponseBody, type ThroughputLimits, watchThroughput } from './throughput.ts';

/** Manifests and indexes are small JSON; distribution and containerd refuse above 4 MiB too. */
export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** What an error message quotes of an error body; the rest is never read. */
export const ERROR_BODY_BYTES = 4 * 1024;
/** Bodies we throw away are drained for connection reuse only when this small and this quick. */
const DRAIN_BYTES = 16 * 1024;
const DRAIN_MS = 1000;

/**
 * The Content-Length of a response: undefined when absent, else a safe non-negative integer, else
 * REMOTE_BAD_RESPONSE. A length no server could mean (not digits, beyond 2^53) is a protocol lie,
 * not a transient fault, so it ends the read at once.
 */
export function contentLength(
  headers: IncomingHttpHeaders,
  method: string,
  url: string | URL,
): number | undefined {
  const raw = headers['content-length'];
  if (raw === undefined) return undefined;
  const text = Array.isArray(raw) ? raw[0]! : raw;
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) {
    throw new RemoteSourceError(
      'REMOTE_BAD_RESPONSE',
      `${method} ${redactUrl(url)} answered with an impossible Content-Length '${text.slice(0, 40)}'; the server or a proxy is broken or hostile: not retried`,
      { url: redactUrl(url) },
    );
  }
  return value;
}

export interface ReadLimitedOptions {
  /** Refuse bodies larger than this many bytes. */
  limit: number;
  /** The option that sets `limit`, named in the error (e.g. `maxManifestBytes`). */
  limitName: string;
  /** What the body is, for messages ("manifest latest", "token response"). */
  what: string;
  url: string | URL;
  throughput: ThroughputLimits;
}

/**
 * Buffers a whole response body of at most `limit` bytes. A declared Content-Length above the
 * limit fails before a byte is read; an undeclared (chunked, endless) body fails as soon as it
 * passes the limit, and the connection is dropped. Either way REMOTE_BODY_TOO_LARGE, not retried.
 */
export async function readLimited(
  body: ResponseBody,
  headers: IncomingHttpHeaders,
  options: ReadLimitedOptions,
): Promise<Buffer> {
  const where = redactUrl(options.url);
  const tooLarge = (size: string) =>
    new RemoteSourceError(
      'REMOTE_BODY_TOO_LARGE',
      `${options.what} from ${where} is ${size}, more than the ${formatBytes(options.limit, { compact: true })} limit ` +
        `(${options.limitName} ${options.limit}); refusing to buffer it: the server is broken or hostile, or raise ${options.limitName}`,
      { url: where },
    );
  let declared: number | undefined;
  try {
    declared = contentLength(headers, 'GET', options.url);
  } catch (err) {
    discard(body);
    throw err;
  }
  if (declared !== undefined && declared > options.limit) {
    discard(body);
    throw tooLarge(`${formatBytes(declared, { compact: true })} (Content-Length ${declared})`);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of watchThroughput(body, options.throughput, where)) {
    total += chunk.length;
    if (total > options.limit) {
      discard(body);
      throw tooLarge(`over ${formatBytes(options.limit, { compact: true })} and still sending`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, total);
}

/**
 * The first few KiB of an error body as text, for a message; the rest is never read (an endless
 * or trickling error body costs at most ERROR_BODY_BYTES and a second).
 */
export async function errorSnippet(body: ResponseBody): Promise<string> {
  const parts: Buffer[] = [];
  let total = 0;
  const timer = setTimeout(() => discard(body), DRAIN_MS);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      parts.push(chunk);
      total += chunk.length;
      if (total >= ERROR_BODY_BYTES) break;
    }
  } catch {
    // Whatever arrived is enough for a message.
  } finally {
    clearTimeout(timer);
    discard(body);
  }
  return Buffer.concat(parts).subarray(0, ERROR_BODY_BYTES).toString('utf8').replace(/\s+/g, ' ').trim();
}

/**
 * Throws away a body we do not need. Small ones are read to the end so the connection can be
 * reused; anything large, endless or slow is cut off (the connection is closed instead).
 */
export async function drain(body: ResponseBody): Promise<void> {
  await body.dump({ limit: DRAIN_BYTES, signal: AbortSignal.timeout(DRAIN_MS) }).catch(() => undefined);
}

/** Drops a response body we will not read, without an unhandled 'error' from undici's abort. */
export function discard(body: ResponseBody): void {
  if (body.destroyed) return;
  body.on('error', () => undefined);
  body.destroy();
}
