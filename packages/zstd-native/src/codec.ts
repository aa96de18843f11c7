/**
 * Codec choice: the native addon by default; the JS fallbacks only when chosen explicitly
 * (option or `TRIDENT_ZSTD_CODEC`), or with `auto`, which takes the addon when it loads.
 */
import zlib from 'node:zlib';
import { BUILD_HINT, loadNative, type NativeBinding } from './binding.ts';
import { ZstdError } from './errors.ts';

/** The codecs, by name: the one list the engine, the CLI and the writers take theirs from. */
export const CODECS = ['native', 'node-zlib', 'simple-zstd'] as const;
export type Codec = (typeof CODECS)[number];
export type CodecChoice = Codec | 'auto';

export const CODEC_ENV = 'TRIDENT_ZSTD_CODEC';
const CHOICES: readonly CodecChoice[] = [...CODECS, 'auto'];

export function isCodec(value: string): value is Codec {
  return (CODECS as readonly string[]).includes(value);
}

/**
 * What the option, else `TRIDENT_ZSTD_CODEC`, asks for (default `native`; an empty variable counts
 * as unset). The one place that variable is read.
 */
export function requestedCodec(choice?: CodecChoice): CodecChoice {
  const raw = choice ?? (process.env[CODEC_ENV] || undefined) ?? 'native';
  if (!(CHOICES as readonly string[]).includes(raw)) {
    const from = choice === undefined ? `${CODEC_ENV}=${raw}` : `codec '${raw}'`;
    throw new ZstdError('ZSTD_INVALID_OPTION', `${from} is not one of ${CHOICES.join(', ')}`);
  }
  return raw as CodecChoice;
}

/** The codec a writer created now would use; throws ZSTD_ADDON_UNAVAILABLE like the writer. */
export function resolveCodec(choice?: CodecChoice): Codec {
  const requested = requestedCodec(choice);
  if (requested === 'auto') return 'binding' in loadNative() ? 'native' : 'node-zlib';
  if (requested === 'native') requireNative();
  if (requested === 'node-zlib' && typeof zlib.createZstdDecompress !== 'function') {
    throw new ZstdError(
      'ZSTD_CODEC_UNAVAILABLE',
      `node:zlib has no zstd in Node ${process.version}; use Node >= 22.15`,
    );
  }
  return requested;
}

export function requireNative(): NativeBinding {
  const r = loadNative();
  if ('binding' in r) return r.binding;
  throw new ZstdError(
    'ZSTD_ADDON_UNAVAILABLE',
    `the zstd-native addon did not load (${r.error.message.split('\n')[0]}); ${BUILD_HINT}`,
    {
      cause: r.error,
    },
  );
}

/** Which codec is active and why, for `trident --version`. */
export function activeCodec(choice?: CodecChoice): Codec {
  return resolveCodec(choice);
}

export interface CodecInfo {
  /** What the option or environment asks for. */
  requested: CodecChoice;
  /** What would be used, or undefined when the request cannot be met. */
  active: Codec | undefined;
  native: { loaded: true; zstdVersion: string; threads: number } | { loaded: false; error: string };
  nodeZlibZstd: boolean;
  /** Set when `active` is undefined. */
  error?: string;
}

export function codecInfo(choice?: CodecChoice): CodecInfo {
  const requested = requestedCodec(choice);
  const r = loadNative();
  const native: CodecInfo['native'] =
    'binding' in r
      ? { loaded: true, zstdVersion: r.binding.zstdVersion(), threads: r.binding.defaultThreadCount() }
      : { loaded: false, error: r.error.message.split('\n')[0] ?? r.error.message };
  const info: CodecInfo = {
    requested,
    active: undefined,
    native,
    nodeZlibZstd: typeof zlib.createZstdDecompress === 'function',
  };
  try {
    info.active = resolveCodec(requested);
  } catch (err) {
    info.error = (err as Error).message;
  }
  return info;
}
