/**
 * `TRIDENT_WRITE_MODE`: a benchmarking and diagnostic knob that overrides how the native writer
 * puts decoded bytes on the target, whatever the caller (the engine always asks for `inPlace`)
 * passed. Unset or empty: the caller's options stand. Not for production use: it exists so
 * `pnpm bench:memory` can compare the three write paths through the real CLI.
 *  - `in-place`: decode into a mapping of the target (`inPlace: true, directIo: false`);
 *  - `buffered`: output buffers written with pwrite through the page cache (`inPlace: false`);
 *  - `direct`: output buffers written with O_DIRECT where the target allows it
 *    (`inPlace: false, directIo: true`).
 */
import { ZstdError } from './errors.ts';

export const WRITE_MODE_ENV = 'TRIDENT_WRITE_MODE';
const MODES = {
  'in-place': { inPlace: true, directIo: false },
  buffered: { inPlace: false, directIo: false },
  direct: { inPlace: false, directIo: true },
} as const;

export interface WriteMode {
  inPlace: boolean;
  directIo: boolean;
}

/** The override `TRIDENT_WRITE_MODE` asks for, or undefined when it is unset. The one place it is read. */
export function writeModeOverride(): WriteMode | undefined {
  const raw = process.env[WRITE_MODE_ENV];
  if (!raw) return undefined;
  if (!Object.hasOwn(MODES, raw)) {
    throw new ZstdError(
      'ZSTD_INVALID_OPTION',
      `${WRITE_MODE_ENV}=${raw} is not one of ${Object.keys(MODES).join(', ')}`,
    );
  }
  return MODES[raw as keyof typeof MODES];
}
