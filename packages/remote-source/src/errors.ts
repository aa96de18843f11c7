/**
 * Every failure this package raises is a `RemoteSourceError` with a stable `code`; callers match on
 * the code, never on the message. Messages name the URL (and HTTP status where there is one) and
 * say what to do.
 */
export type RemoteSourceErrorCode =
  | 'REMOTE_INVALID_URL'
  | 'REMOTE_UNSUPPORTED_SCHEME'
  | 'REMOTE_FILE'
  | 'REMOTE_OUT_OF_RANGE'
  | 'REMOTE_HTTP_STATUS'
  | 'REMOTE_NOT_FOUND'
  | 'REMOTE_ACCESS_DENIED'
  | 'REMOTE_NO_LENGTH'
  | 'REMOTE_RANGE_UNSUPPORTED'
  | 'REMOTE_RANGE_IGNORED'
  | 'REMOTE_BAD_CONTENT_RANGE'
  | 'REMOTE_CHANGED'
  | 'REMOTE_TOO_MANY_REDIRECTS'
  | 'REMOTE_BAD_REDIRECT'
  | 'REMOTE_BAD_RESPONSE'
  | 'REMOTE_BODY_TOO_LARGE'
  | 'REMOTE_TLS'
  | 'REMOTE_RETRIES_EXHAUSTED'
  | 'REMOTE_TOO_SLOW'
  | 'REMOTE_TIMEOUT'
  | 'REMOTE_ABORTED'
  | 'REMOTE_CLOSED'
  | 'REMOTE_DIGEST_MISMATCH'
  | 'REMOTE_OCI_REFERENCE'
  | 'REMOTE_OCI_AUTH'
  | 'REMOTE_OCI_CREDENTIALS_REJECTED'
  | 'REMOTE_OCI_MANIFEST'
  | 'REMOTE_OCI_PLATFORM'
  | 'REMOTE_OCI_LAYERS'
  | 'REMOTE_OCI_PUSH'
  | 'REMOTE_CONFIG'
  | 'REMOTE_INVALID_OPTION';

export interface RemoteSourceErrorDetails {
  /** The URL (or reference) the error is about. Credentials are never included. */
  url?: string;
  /** HTTP status, when a response caused the error. */
  status?: number;
  /** Byte offset in the object. */
  offset?: number;
  /** JSON path into a registry document (manifest, index), e.g. `layers[0].digest`. */
  path?: string;
  cause?: unknown;
}

export class RemoteSourceError extends Error {
  override readonly name = 'RemoteSourceError';
  readonly code: RemoteSourceErrorCode;
  readonly url: string | undefined;
  readonly status: number | undefined;
  readonly offset: number | undefined;
  readonly path: string | undefined;

  constructor(code: RemoteSourceErrorCode, message: string, details: RemoteSourceErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.url = details.url;
    this.status = details.status;
    this.offset = details.offset;
    this.path = details.path;
  }
}

export function isRemoteSourceError(
  value: unknown,
  code?: RemoteSourceErrorCode,
): value is RemoteSourceError {
  return value instanceof RemoteSourceError && (code === undefined || value.code === code);
}

/** A URL safe to print: user info and query-string signatures are removed. */
export function redactUrl(url: string | URL): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    const query = parsed.search !== '';
    parsed.search = '';
    parsed.hash = '';
    return `${parsed.toString()}${query ? '?…' : ''}`;
  } catch {
    return String(url);
  }
}

/** The error for a final (non-retryable) HTTP status, with a hint per status class. */
export function statusError(
  status: number,
  method: string,
  url: string | URL,
  extra = '',
): RemoteSourceError {
  const where = redactUrl(url);
  const tail = extra ? ` ${extra}` : '';
  if (status === 404 || status === 410) {
    return new RemoteSourceError(
      'REMOTE_NOT_FOUND',
      `${method} ${where} failed with HTTP ${status} (not found): check the URL, tag or digest.${tail}`,
      { url: where, status },
    );
  }
  if (status === 401 || status === 403) {
    return new RemoteSourceError(
      'REMOTE_ACCESS_DENIED',
      `${method} ${where} failed with HTTP ${status} (access denied): supply credentials (headers option, docker config.json) or check they grant read access.${tail}`,
      { url: where, status },
    );
  }
  return new RemoteSourceError(
    'REMOTE_HTTP_STATUS',
    `${method} ${where} failed with HTTP ${status}.${tail}`,
    {
      url: where,
      status,
    },
  );
}
