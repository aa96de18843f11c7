/**
 * The daemon's front door: every HTTP/2 request on the socket goes through here before connect-es
 * sees it. It makes the transport behave like Trident's tonic server, and makes sure no request,
 * however malformed, can take the process down:
 *
 * - `:authority` is not used for routing but connect-node builds `new URL(path, "http://" +
 *   authority)` from it, which throws for what gRPC C-core clients send over a unix socket (the
 *   percent-encoded socket path, e.g. `tmp%2Fx%2Ft.sock`). Anything that is not a plain host name
 *   is replaced by `localhost` (see `normaliseAuthority`).
 * - An unknown service or method answers HTTP 200 with `grpc-status: 12` (UNIMPLEMENTED) and no
 *   message, in one HEADERS frame (trailers-only), as tonic's router and generated services do.
 * - Like tonic, a request to a known method is treated as gRPC whatever its HTTP method and
 *   content-type say (connect-es would answer 405/415 without a gRPC status).
 * - A handler that throws, synchronously or later, is logged and answered with INTERNAL (or the
 *   stream is reset when the response has started); it never becomes an uncaught exception.
 */
import {
  constants,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Stream,
} from 'node:http2';
import { Code, ConnectError, type ConnectRouter, createConnectRouter } from '@connectrpc/connect';
import {
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from '@connectrpc/connect-node';
import { describeError } from './errors.ts';
import { encodeGrpcMessage, withSpecGrpcMessage } from './grpc-message.ts';
import type { Logger } from './logger.ts';

/** tonic's default limit for a received message (`max_decoding_message_size`): 4 MiB. */
export const MAX_REQUEST_MESSAGE_BYTES = 4 * 1024 * 1024;

/** What the router sees as the authority when the client's is not a plain host name. */
export const FALLBACK_AUTHORITY = 'localhost';

// reg-name / IPv4 (RFC 3986 without percent-encoding) or a bracketed IPv6 literal, optional port.
const HOST_RE = /^(?:[A-Za-z0-9._~!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The client's `:authority` (or `host`) when it is a plain `host[:port]`, else `localhost`. gRPC
 * C-core sends the percent-encoded socket path for `unix:` targets, grpc-go sends `localhost`,
 * curl sends whatever `-H Host:` says, and HTTP/2 allows none at all.
 */
export function normaliseAuthority(raw: string | undefined): string {
  if (raw === undefined || raw.length === 0 || raw.length > 255 || !HOST_RE.test(raw))
    return FALLBACK_AUTHORITY;
  return URL.canParse(`http://${raw}/`) ? raw : FALLBACK_AUTHORITY;
}

/** The request path without a query string (tonic routes on the path only). */
function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/** At most 200 characters of client-controlled text for a log field. */
function clip(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * Answers with a gRPC status in one HEADERS frame that ends the stream (a "trailers-only"
 * response), or resets the stream when that is no longer possible. Never throws.
 */
export function respondWithStatus(stream: ServerHttp2Stream, code: Code, message = ''): void {
  if (stream.destroyed || stream.closed) return;
  try {
    if (stream.headersSent) {
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const headers: Record<string, string | number> = {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(code),
    };
    if (message !== '') headers['grpc-message'] = encodeGrpcMessage(message);
    stream.respond(headers, { endStream: true });
  } catch {
    // The stream went away between the checks and respond(): nothing is left to answer.
    stream.destroy();
  }
}

/**
 * Every RPC here takes exactly one request message; an empty body is tonic's INTERNAL "Missing
 * request message." (connect-es would say UNIMPLEMENTED, which reads as "no such method").
 */
async function* requireMessage(body: AsyncIterable<Uint8Array> | unknown): AsyncIterable<Uint8Array> {
  let bytes = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    yield chunk;
  }
  if (bytes === 0) throw new ConnectError('Missing request message.', Code.Internal);
}

export interface GrpcFrontOptions {
  routes: (router: ConnectRouter) => void;
  logger: Logger;
}

type Handler = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

/** Builds the request handler for `http2.createServer` (also used for `checkExpectation`/`connect`). */
export function createGrpcFront(options: GrpcFrontOptions): Handler {
  const { logger } = options;
  // gRPC only, as Trident (tonic) serves: no Connect or gRPC-web protocol on the socket.
  const router = createConnectRouter({
    grpc: true,
    grpcWeb: false,
    connect: false,
    acceptCompression: [compressionGzip],
    readMaxBytes: MAX_REQUEST_MESSAGE_BYTES,
  });
  options.routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));

  const failed = (req: Http2ServerRequest, path: string, error: unknown): void => {
    const stream = req.stream;
    const clientGone =
      stream.destroyed ||
      stream.closed ||
      (error instanceof ConnectError && (error.code === Code.Canceled || error.code === Code.Aborted));
    logger.log(clientGone ? 'debug' : 'warn', 'request failed', {
      path: clip(path),
      error: describeError(error),
    });
    respondWithStatus(
      stream,
      Code.Internal,
      `tridentd could not handle the request: ${describeError(error)}`,
    );
  };

  const serve = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    const path = pathOf(req.url);
    const handler = handlers.get(path);
    if (handler === undefined) {
      logger.debug('unknown gRPC method', { path: clip(path), method: clip(req.method) });
      respondWithStatus(req.stream, Code.Unimplemented);
      return;
    }
    if (req.method === 'HEAD') {
      // A HEAD response carries no body and no trailers, so the status must go in the headers.
      // tonic reads no message from a HEAD request either: its answer is the same.
      respondWithStatus(req.stream, Code.Internal, 'Missing request message.');
      return;
    }
    const raw = req.headers[':authority'] ?? req.headers.host;
    const authority = normaliseAuthority(typeof raw === 'string' ? raw : undefined);
    if (authority !== raw)
      logger.debug('authority is not a host name; using localhost', { authority: clip(raw) });
    // connect-node reads `authority` to build the request URL: give it the normalised one.
    Object.defineProperty(req, 'authority', { value: authority, configurable: true });
    const universal = universalRequestFromNodeRequest(req, res, undefined, undefined);
    // tonic answers every request to a known method as gRPC (protobuf), whatever it was sent as.
    const contentType = universal.header.get('content-type');
    if (contentType === null || !/^application\/grpc(?:\+proto)?$/i.test(contentType))
      universal.header.set('content-type', 'application/grpc');
    handler({ ...universal, method: 'POST', body: requireMessage(universal.body) })
      .then((response) => universalResponseToNodeResponse(response, res))
      .catch((error: unknown) => failed(req, path, error));
  };

  const inner = withSpecGrpcMessage(serve);
  return (req, res) => {
    try {
      // The compatibility objects are event emitters; an error on them must never be unhandled.
      req.on('error', (error) => logger.debug('request stream error', { error: describeError(error) }));
      res.on('error', (error) => logger.debug('response stream error', { error: describeError(error) }));
      inner(req, res);
    } catch (error) {
      failed(req, pathOf(req.url), error);
    }
  };
}
