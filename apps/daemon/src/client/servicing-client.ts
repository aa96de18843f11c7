/**
 * Reads a ServicingResponse stream the way Trident's client does and decides the exit code:
 * SUCCESS → 0 (REBOOT_REQUIRED: the client reboots the host itself); FAILURE → 2 with
 * "Servicing failed with error: KIND:subkind: message"; status or reboot status UNSPECIFIED → 2;
 * a message without a body → error; a stream that ends without Completed counts as done (0).
 */

import { EXIT } from '../errors.ts';
import { TridentErrorKind } from '../gen/trident/v1/error_pb.ts';
import {
  RebootStatus,
  ServicingKind,
  type ServicingResponse,
  StatusCode,
} from '../gen/trident/v1/servicing_pb.ts';
import { formatForwardedLog, formatLine, levelName, shouldPrint, type Verbosity } from './print.ts';

export const CLIENT_TARGET = 'trident::grpc_client';

export interface StreamOutcome {
  exitCode: number;
  /** The daemon asked the caller to reboot (REBOOT_REQUIRED). */
  rebootRequired: boolean;
}

function enumName(table: Record<string, number>, value: number, prefix = ''): string {
  const key = Object.keys(table).find((k) => table[k] === value);
  return key === undefined ? String(value) : `${prefix}${key}`;
}

export async function consumeServicingStream(
  stream: AsyncIterable<ServicingResponse>,
  print: (line: string) => void,
  verbosity: Verbosity,
): Promise<StreamOutcome> {
  const info = (message: string) => {
    if (shouldPrint('INFO', verbosity)) print(formatLine('INFO', CLIENT_TARGET, message));
  };
  const error = (message: string) => {
    if (shouldPrint('ERROR', verbosity)) print(formatLine('ERROR', CLIENT_TARGET, message));
  };
  for await (const message of stream) {
    const body = message.response;
    switch (body.case) {
      case 'started':
        info('Servicing started');
        break;
      case 'log':
        if (shouldPrint(levelName(body.value.level), verbosity)) print(formatForwardedLog(body.value));
        break;
      case 'completed': {
        const done = body.value;
        if (done.status === StatusCode.FAILURE) {
          const e = done.error;
          const kind = e === undefined ? 'UNKNOWN' : enumName(TridentErrorKind, e.kind);
          error(
            `Servicing failed with error: ${kind}:${e?.subkind ?? 'unknown'}: ${e?.message || e?.errorMessage || ''}`,
          );
          return { exitCode: EXIT.failed, rebootRequired: false };
        }
        if (
          done.status !== StatusCode.SUCCESS ||
          done.rebootStatus === RebootStatus.REBOOT_STATUS_UNSPECIFIED
        ) {
          error(
            `Invalid response from the daemon: status ${enumName(StatusCode, done.status, 'STATUS_CODE_')}, reboot status ${enumName(RebootStatus, done.rebootStatus)}`,
          );
          return { exitCode: EXIT.failed, rebootRequired: false };
        }
        const details = [
          enumName(RebootStatus, done.rebootStatus),
          done.imageHash === undefined ? undefined : `image ${done.imageHash}`,
          done.servicingKind === undefined
            ? undefined
            : enumName(ServicingKind, done.servicingKind, 'SERVICING_KIND_'),
        ].filter((d) => d !== undefined);
        info(`Servicing succeeded (${details.join(', ')})`);
        return { exitCode: EXIT.ok, rebootRequired: done.rebootStatus === RebootStatus.REBOOT_REQUIRED };
      }
      default:
        error('Invalid response from the daemon: a ServicingResponse without started, log or completed');
        return { exitCode: EXIT.failed, rebootRequired: false };
    }
  }
  if (shouldPrint('WARN', verbosity))
    print(
      formatLine(
        'WARN',
        CLIENT_TARGET,
        'The stream ended without Completed; treating it as done (as Trident does).',
      ),
    );
  return { exitCode: EXIT.ok, rebootRequired: false };
}
