import { RemoteSourceError, redactUrl } from './errors.ts';

// OpenSSL's view of an HTTP answer to a ClientHello: "HTTP/1.1 400" read as a TLS record header.
const PLAIN_HTTP_CODES = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_HTTP_REQUEST',
]);

// Certificate verdicts: retrying cannot change them.
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

// The response framing itself is a lie (a Content-Length no parser accepts): retrying gets the same lie.
const FRAMING_CODES = new Set([
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'HPE_INVALID_CONTENT_LENGTH',
  'HPE_UNEXPECTED_CONTENT_LENGTH',
]);

export interface TransportContext {
  method: string;
  url: URL;
  /** What to do when an https:// endpoint turns out to speak plain HTTP (differs for registries). */
  plainHttpHint: string;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A failure of `undici.request` before any response headers that no retry can fix, as a coded
 * error; undefined for the transient kind (reset, refused, timeout), which the caller retries.
 * Only errors raised before the response started are classified here: the same framing codes
 * mid-body can be a dropped connection.
 */
export function permanentTransportError(
  err: unknown,
  context: TransportContext,
): RemoteSourceError | undefined {
  const code = codeOf(err) ?? codeOf((err as { cause?: unknown } | null)?.cause);
  const where = redactUrl(context.url);
  const host = context.url.host;
  const message = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 200) : String(err);
  if (code !== undefined && PLAIN_HTTP_CODES.has(code)) {
    return new RemoteSourceError(
      'REMOTE_TLS',
      `${context.method} ${where}: the TLS handshake with ${host} got a plain-HTTP answer (${code}); the server does not speak HTTPS: ${context.plainHttpHint}`,
      { url: where, cause: err },
    );
  }
  if (code !== undefined && CERTIFICATE_CODES.has(code)) {
    return new RemoteSourceError(
      'REMOTE_TLS',
      `${context.method} ${where}: the certificate of ${host} is not trusted (${code}: ${message}); add its CA with --ca-file (option ca), or fix the server's certificate`,
      { url: where, cause: err },
    );
  }
  if ((code !== undefined && FRAMING_CODES.has(code)) || (err as Error | null)?.name === 'HTTPParserError') {
    return new RemoteSourceError(
      'REMOTE_BAD_RESPONSE',
      `${context.method} ${where}: the response cannot be parsed (${code}: ${message}), typically an impossible Content-Length; the server or a proxy is broken or hostile: not retried`,
      { url: where, cause: err },
    );
  }
  if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_URL') {
    return new RemoteSourceError('REMOTE_INVALID_URL', `${context.method} ${where}: ${message}`, {
      url: where,
      cause: err,
    });
  }
  return undefined;
}
