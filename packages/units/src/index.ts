export { type DurationGrammar, formatDuration, parseDuration } from './durations.ts';
export {
  BYTE_COUNT_TEXT,
  type ByteCountGrammar,
  type FormatBytesOptions,
  formatBytes,
  parseByteCount,
} from './sizes.ts';
