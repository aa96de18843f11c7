import { codecInfo } from '@trident/zstd-native';

/** Which zstd codec this process will use, in words for `trident --version`. */
export function codecSummary(): { name: string; detail?: string; info: ReturnType<typeof codecInfo> } {
  const info = codecInfo();
  if (info.active === undefined) return { name: 'none', detail: info.error ?? 'no codec available', info };
  if (info.active === 'native' && info.native.loaded) {
    return {
      name: 'native',
      detail: `libzstd ${info.native.zstdVersion}, ${info.native.threads} threads`,
      info,
    };
  }
  const why = info.native.loaded
    ? `requested ${info.requested}`
    : `native addon not loaded: ${info.native.error}`;
  return { name: info.active, detail: why, info };
}
