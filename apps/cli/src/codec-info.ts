/** Which zstd codec this process will use; the native addon when it loads, else Node's built-in zstd. */
export async function codecSummary(): Promise<{ name: string; detail?: string }> {
  try {
    const native = (await import('@trident/zstd-native')) as {
      codecInfo?: () => { name: string; detail?: string };
    };
    if (typeof native.codecInfo === 'function') return native.codecInfo();
  } catch {
    // Not built yet or not installed: fall through to the built-in codec.
  }
  return { name: 'node:zlib', detail: 'built-in (native addon not loaded)' };
}
