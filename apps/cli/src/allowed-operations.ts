import {
  type AllowedOperations,
  parseAllowedOperations as parseOperations,
} from '@trident/engine/allowed-operations';
import { CliError } from './cli-error.ts';

/** `--allowed-operations`: the engine's grammar (one parser), a bad word is a command-line error. */
export function parseAllowedOperations(values: readonly string[] | undefined): AllowedOperations {
  try {
    return parseOperations(values);
  } catch (error) {
    throw new CliError('CLI_BAD_OPTION', (error as Error).message);
  }
}
