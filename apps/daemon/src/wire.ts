/** Engine results and events → trident.v1 messages. */
import { create } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import type { TridentErrorInfo, TridentErrorKindName } from '@trident/engine';
import { type TridentError, TridentErrorKind, TridentErrorSchema } from './gen/trident/v1/error_pb.ts';
import { LogLevel, LogSchema } from './gen/trident/v1/log_pb.ts';
import {
  type Completed,
  CompletedSchema,
  RebootHandling,
  type RebootManagement,
  RebootStatus,
  type ServicingResponse,
  ServicingResponseSchema,
  StartedSchema,
} from './gen/trident/v1/servicing_pb.ts';

/**
 * What happens when an operation needs a reboot (Trident's `RebootDecision`): the daemon reboots,
 * the caller does (REBOOT_REQUIRED), or (stage-only RPCs) a reboot would be a failure.
 */
export type RebootDecision = 'handle' | 'defer' | 'error';

/** Absent, UNSPECIFIED and TRIDENT_HANDLES_REBOOT → handle; CALLER_HANDLES_REBOOT → defer. */
export function rebootDecision(reboot: RebootManagement | undefined): RebootDecision {
  return reboot?.handling === RebootHandling.CALLER_HANDLES_REBOOT ? 'defer' : 'handle';
}

const KIND: Record<TridentErrorKindName, TridentErrorKind> = {
  EXECUTION_ENVIRONMENT_MISCONFIGURATION_ERROR: TridentErrorKind.EXECUTION_ENVIRONMENT_MISCONFIGURATION_ERROR,
  HEALTH_CHECKS_ERROR: TridentErrorKind.HEALTH_CHECKS_ERROR,
  INITIALIZATION_ERROR: TridentErrorKind.INITIALIZATION_ERROR,
  INTERNAL_ERROR: TridentErrorKind.INTERNAL_ERROR,
  INVALID_INPUT_ERROR: TridentErrorKind.INVALID_INPUT_ERROR,
  SERVICING_ERROR: TridentErrorKind.SERVICING_ERROR,
  UNSUPPORTED_CONFIGURATION_ERROR: TridentErrorKind.UNSUPPORTED_CONFIGURATION_ERROR,
};

export function toProtoErrorKind(kind: string): TridentErrorKind {
  return (KIND as Record<string, TridentErrorKind>)[kind] ?? TridentErrorKind.INTERNAL_ERROR;
}

export function toProtoError(info: TridentErrorInfo): TridentError {
  return create(TridentErrorSchema, {
    kind: toProtoErrorKind(info.kind),
    subkind: info.subkind,
    message: info.message,
    errorMessage: info.errorMessage,
  });
}

export type WireLogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

const LEVEL: Record<WireLogLevel, LogLevel> = {
  error: LogLevel.ERROR,
  warn: LogLevel.WARN,
  info: LogLevel.INFO,
  debug: LogLevel.DEBUG,
  trace: LogLevel.TRACE,
};

export function startedResponse(): ServicingResponse {
  return create(ServicingResponseSchema, {
    timestamp: timestampNow(),
    response: { case: 'started', value: create(StartedSchema) },
  });
}

export interface WireLog {
  level: WireLogLevel;
  message: string;
  target: string;
  module: string;
}

export function logResponse(log: WireLog): ServicingResponse {
  return create(ServicingResponseSchema, {
    timestamp: timestampNow(),
    response: {
      case: 'log',
      value: create(LogSchema, {
        level: LEVEL[log.level],
        message: log.message,
        target: log.target,
        module: log.module,
      }),
    },
  });
}

export function completedResponse(completed: Completed): ServicingResponse {
  return create(ServicingResponseSchema, {
    timestamp: timestampNow(),
    response: { case: 'completed', value: completed },
  });
}

export { CompletedSchema, RebootStatus };
