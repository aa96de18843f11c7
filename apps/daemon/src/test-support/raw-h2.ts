/**
 * A raw HTTP/2 client over the daemon's unix socket (node:http2, no gRPC library), for tests that
 * send what real gRPC clients never would: odd authorities, paths, content types, bodies.
 */
import http2, {
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import net from 'node:net';

export function connectRaw(socketPath: string): ClientHttp2Session {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
  // A test that breaks the connection on purpose must not see an unhandled 'error'.
  session.on('error', () => {});
  return session;
}

export interface RawResponse {
  headers: IncomingHttpHeaders;
  /** The response HEADERS frame ended the stream: a gRPC "trailers-only" answer. */
  trailersOnly: boolean;
  trailers: IncomingHttpHeaders;
  body: Buffer;
  /** The stream's RST_STREAM code (0 when it closed normally). */
  rstCode: number;
}

/** One request; resolves when the stream closed. Pseudo-headers may be overridden (`:authority`...). */
export function rawRequest(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body: Uint8Array = new Uint8Array(),
  timeoutMs = 15_000,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ...headers }, { endStream: body.length === 0 });
    const result: RawResponse = {
      headers: {},
      trailersOnly: false,
      trailers: {},
      body: Buffer.alloc(0),
      rstCode: 0,
    };
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`no answer within ${timeoutMs} ms for ${String(headers[':path'])}`));
    }, timeoutMs);
    stream.on('response', (h, flags) => {
      result.headers = h;
      result.trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('trailers', (t) => {
      result.trailers = t;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => {});
    stream.on('close', () => {
      clearTimeout(timer);
      result.body = Buffer.concat(chunks);
      result.rstCode = stream.rstCode ?? 0;
      resolve(result);
    });
    if (body.length > 0) stream.end(body);
  });
}

/** A gRPC length-prefixed message (uncompressed). */
export function grpcFrame(message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** grpc-status and grpc-message of a response, from the trailers or a trailers-only HEADERS frame. */
export function grpcStatusOf(response: RawResponse): {
  status: string | undefined;
  message: string | undefined;
} {
  const source = response.trailersOnly ? response.headers : response.trailers;
  const status = source['grpc-status'];
  const message = source['grpc-message'];
  return {
    status: typeof status === 'string' ? status : undefined,
    message: typeof message === 'string' ? decodeURIComponent(message) : undefined,
  };
}

/**
 * Closes gracefully, or destroys after 2 s: a graceful close waits for the peer, and after a
 * request whose body the daemon refused part-way node's client may wait for good.
 */
export function closeRaw(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.closed || session.destroyed) return resolve();
    const timer = setTimeout(() => {
      session.destroy();
      resolve();
    }, 2_000);
    session.close(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
