import type { TridentErrorInfo, TridentErrorKindName } from './types.ts';

/**
 * The engine's failures, already in Trident's terms: a kind and a kebab-case subkind saying which
 * step failed, plus the stable `code` of the underlying error (ours, from any package). The daemon
 * puts `tridentError` into `Completed.error` unchanged; the CLI maps `kind` to its exit code.
 */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  readonly code: string;
  readonly tridentError: TridentErrorInfo;

  constructor(
    kind: TridentErrorKindName,
    subkind: string,
    errorMessage: string,
    options: { cause?: unknown; code?: string } = {},
  ) {
    super(errorMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.code =
      options.code ?? codeOf(options.cause) ?? `ENGINE_${subkind.toUpperCase().replace(/-/gu, '_')}`;
    this.tridentError = {
      kind,
      subkind,
      errorMessage,
      message: renderChain(kind, errorMessage, options.cause),
      code: this.code,
    };
  }
}

const HEADERS: Record<TridentErrorKindName, string> = {
  EXECUTION_ENVIRONMENT_MISCONFIGURATION_ERROR: 'Trident failed due to a misconfigured execution environment',
  HEALTH_CHECKS_ERROR: 'Trident reported failed health checks',
  INITIALIZATION_ERROR: 'Trident failed to initialize',
  INTERNAL_ERROR: 'Trident failed due to an internal error',
  INVALID_INPUT_ERROR: 'Trident failed due to invalid input',
  SERVICING_ERROR: 'Trident failed due to a servicing error',
  UNSUPPORTED_CONFIGURATION_ERROR: 'Trident failed due to an unsupported configuration',
};

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Trident's multi-line message: a header per kind, then the context chain, newest first. */
function renderChain(kind: TridentErrorKindName, errorMessage: string, cause: unknown): string {
  const lines = [HEADERS[kind], '', 'Context:', `  0: ${errorMessage}`];
  let current = cause;
  for (let depth = 1; current instanceof Error && depth < 10; depth++) {
    const code = codeOf(current);
    lines.push(`  ${depth}: ${code ? `[${code}] ` : ''}${current.message}`);
    current = current.cause;
  }
  return lines.join('\n');
}

/** Maps any failure to Trident's error model; unknown failures become INTERNAL_ERROR `unknown`. */
export function toTridentError(error: unknown): TridentErrorInfo {
  if (error instanceof EngineError) return error.tridentError;
  const message = error instanceof Error ? error.message : String(error);
  return new EngineError('INTERNAL_ERROR', 'unknown', message, { cause: error }).tridentError;
}

/**
 * Wraps a failure of one step in the subkind Trident uses for that step, unless it already is an
 * EngineError (an inner step named it more precisely).
 */
export function wrapStep(
  kind: TridentErrorKindName,
  subkind: string,
  context: string,
  error: unknown,
): EngineError {
  if (error instanceof EngineError) return error;
  if (isAbort(error)) {
    return new EngineError('SERVICING_ERROR', 'cancelled', `${context}: the operation was cancelled`, {
      cause: error,
      code: 'ENGINE_CANCELLED',
    });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new EngineError(kind, subkind, `${context}: ${detail}`, { cause: error });
}

export function isAbort(error: unknown): boolean {
  const code = codeOf(error);
  return (
    (error instanceof Error && error.name === 'AbortError') ||
    code === 'ABORT_ERR' ||
    code?.endsWith('_ABORTED') === true
  );
}
