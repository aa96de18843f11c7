/**
 * Response headers as tonic (Trident) writes them. The gRPC HTTP/2 spec percent-encodes only bytes
 * outside 0x20-0x7E and '%' in `grpc-message`; connect-es encodes with encodeURIComponent, so ':'
 * or spaces would reach clients that decode with decodeURI (grpc-js) as "%3A". tonic follows the
 * spec, so we re-encode to match it byte for byte. connect-es also answers `content-type:
 * application/grpc+proto` where tonic says `application/grpc`.
 */
import type { Http2ServerRequest, Http2ServerResponse, OutgoingHttpHeaders } from 'node:http2';

export function encodeGrpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function reencode(headers: unknown): void {
  if (headers === null || typeof headers !== 'object') return;
  const record = headers as OutgoingHttpHeaders;
  if (record['content-type'] === 'application/grpc+proto') record['content-type'] = 'application/grpc';
  const value = record['grpc-message'];
  if (typeof value !== 'string') return;
  let decoded = value;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return;
  }
  record['grpc-message'] = encodeGrpcMessage(decoded);
}

type Handler = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

/** Wraps a request handler so `grpc-message` follows the spec and `content-type` is tonic's. */
export function withSpecGrpcMessage(handler: Handler): Handler {
  return (req, res) => {
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => Http2ServerResponse;
    const addTrailers = res.addTrailers.bind(res);
    res.writeHead = ((...args: unknown[]) => {
      for (const arg of args) reencode(arg);
      return writeHead(...args);
    }) as typeof res.writeHead;
    res.addTrailers = (headers) => {
      reencode(headers);
      addTrailers(headers);
    };
    handler(req, res);
  };
}
