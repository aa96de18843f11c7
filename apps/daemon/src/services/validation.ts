/** trident.v1preview.ValidationService: Host Configuration checks with @trident/host-config. No lock. */
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { formatFinding, parseHostConfig } from '@trident/host-config';
import { TridentErrorKind, TridentErrorSchema } from '../gen/trident/v1/error_pb.ts';
import type { ValidationService } from '../gen/trident/v1preview/validation_service_pb.ts';
import { MISSING_CONFIG } from './install.ts';

/**
 * The error for an invalid document: INVALID_INPUT_ERROR with subkind `invalid-host-configuration`
 * (the engine's install uses it too), whether the YAML, the schema or a semantic rule rejects it.
 * `message` lists every error finding as `<config>:line:column: error CODE path: text`.
 */
export function validateHostConfigurationText(text: string) {
  const result = parseHostConfig(text);
  if (result.ok) return { ok: true };
  const errors = result.findings.filter((f) => f.severity === 'error');
  const first = errors[0];
  // The engine's install reports an invalid document with the same subkind.
  const subkind = 'invalid-host-configuration';
  const errorMessage = `Host Configuration is invalid: ${errors.length} error(s)${first === undefined ? '' : `; first: ${first.message}`}`;
  const lines = errors.map((f, i) => `  ${i}: ${formatFinding(f, '<config>')}`);
  return {
    ok: false,
    error: create(TridentErrorSchema, {
      kind: TridentErrorKind.INVALID_INPUT_ERROR,
      subkind,
      errorMessage,
      message: `Trident failed due to invalid input\n\nContext:\n${lines.join('\n')}`,
    }),
  };
}

export function createValidationService(): ServiceImpl<typeof ValidationService> {
  return {
    validateHostConfiguration(request) {
      // Trident answers a request without `config` with a status, before any validation (and with
      // the same text as a stage request without one); an empty document is validated.
      if (request.config === undefined) throw new ConnectError(MISSING_CONFIG, Code.InvalidArgument);
      return validateHostConfigurationText(request.config.config);
    },
    getRequiredServicingType() {
      throw new ConnectError(
        'GetRequiredServicingType is not implemented (Trident has it as a stub too).',
        Code.Unimplemented,
      );
    },
  };
}
