/**
 * `lastError` in Trident's shape (its `TridentError` serialised: `message`, `error`, `category`,
 * `location`, `cause`; reference servicing.md §6, grpc-api.md §4.1), converted from and to the
 * kind/subkind form the engine and the daemon use (`TridentErrorInfo`).
 */
import type { TridentKindName } from './errors.ts';
import type { LastError } from './host-status.ts';

/** A failure in Trident's terms, structurally the engine's `TridentErrorInfo`. */
export interface ServicingFailure {
  kind: TridentKindName;
  /** Kebab-case subkind, e.g. `deploy-images`, `health-checks-failed`. */
  subkind: string;
  /** One line: what failed. */
  errorMessage: string;
  /** The whole chain, as Trident's multi-line message. */
  message: string;
  /** Our stable code of the underlying error, when there is one. */
  code?: string | undefined;
}

/** Trident's `ErrorKind` names, kebab-case (its `category` field). */
const CATEGORY: Record<TridentKindName, string> = {
  EXECUTION_ENVIRONMENT_MISCONFIGURATION_ERROR: 'execution-environment-misconfiguration',
  HEALTH_CHECKS_ERROR: 'health-checks',
  INITIALIZATION_ERROR: 'initialization',
  INTERNAL_ERROR: 'internal',
  INVALID_INPUT_ERROR: 'invalid-input',
  SERVICING_ERROR: 'servicing',
  UNSUPPORTED_CONFIGURATION_ERROR: 'unsupported-configuration',
};

/** `location` of the errors we record: there is no Rust source file and line to name. */
const OUR_LOCATION = 'trident-ts';

const KIND_OF_CATEGORY = new Map(
  Object.entries(CATEGORY).map(([kind, category]) => [category, kind as TridentKindName]),
);

/**
 * The record Trident would write for this failure. There is no Rust source location, so
 * `location` says which agent raised it; `cause` carries the chain; `code` (ours) is an extra field
 * Trident ignores (it reads `lastError` as free-form YAML).
 */
export function lastErrorFromFailure(failure: ServicingFailure): LastError {
  const record: LastError = {
    message: failure.errorMessage,
    error: failure.subkind,
    category: CATEGORY[failure.kind],
    location: OUR_LOCATION,
    cause: failure.message === failure.errorMessage ? null : failure.message,
  };
  if (failure.code !== undefined) record['code'] = failure.code;
  return record;
}

/**
 * Reads a recorded error back, whoever wrote it. Trident writes `error` as the variant name, or as
 * `{variant: {fields}}` for variants with data; the subkind is that name either way.
 */
export function failureFromLastError(record: LastError): ServicingFailure {
  const error = record.error;
  const subkind =
    typeof error === 'string'
      ? error
      : typeof error === 'object' && error !== null && !Array.isArray(error)
        ? (Object.keys(error)[0] ?? 'unknown')
        : 'unknown';
  const kind = KIND_OF_CATEGORY.get(String(record.category)) ?? 'INTERNAL_ERROR';
  const errorMessage = typeof record.message === 'string' ? record.message : String(record.message);
  const cause = typeof record.cause === 'string' && record.cause !== '' ? record.cause : undefined;
  const ours = record.location === OUR_LOCATION;
  const location = typeof record.location === 'string' && !ours ? record.location : undefined;
  // Ours: `cause` is the whole message. Trident's: compose one from its three fields.
  const message =
    ours && cause !== undefined
      ? cause
      : [
          errorMessage,
          ...(cause !== undefined && cause !== errorMessage ? ['', cause] : []),
          ...(location !== undefined ? ['', `at ${location}`] : []),
        ].join('\n');
  const failure: ServicingFailure = { kind, subkind, errorMessage, message };
  if (typeof record['code'] === 'string') failure.code = record['code'];
  return failure;
}
