/**
 * GPT stores GUIDs in mixed endianness: the first three fields little-endian, the last two as
 * bytes. These convert between that on-disk form and the canonical lowercase text form.
 */
export function guidFromBytes(bytes: Uint8Array): string {
  const hex = (start: number, end: number, reverse: boolean): string => {
    const part = Array.from(bytes.subarray(start, end), (b) => b.toString(16).padStart(2, '0'));
    return (reverse ? part.reverse() : part).join('');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`;
}

export function guidToBytes(guid: string): Uint8Array {
  const clean = guid.replace(/-/gu, '');
  if (!/^[0-9a-fA-F]{32}$/u.test(clean)) throw new TypeError(`not a GUID: ${guid}`);
  const raw = Uint8Array.from(clean.match(/../gu)!, (pair) => Number.parseInt(pair, 16));
  const out = new Uint8Array(16);
  out.set(raw.subarray(0, 4).reverse(), 0);
  out.set(raw.subarray(4, 6).reverse(), 4);
  out.set(raw.subarray(6, 8).reverse(), 6);
  out.set(raw.subarray(8, 16), 8);
  return out;
}

export const NIL_GUID = '00000000-0000-0000-0000-000000000000';

/** Accepts the UUID spellings Trident's `Uuid::from_str` accepts: hyphenated, simple, braced, urn. */
export function normalizeUuid(text: string): string | undefined {
  let value = text.trim();
  if (/^urn:uuid:/iu.test(value)) value = value.slice(9);
  if (value.startsWith('{') && value.endsWith('}')) value = value.slice(1, -1);
  if (/^[0-9a-fA-F]{32}$/u.test(value)) {
    value = `${value.slice(0, 8)}-${value.slice(8, 12)}-${value.slice(12, 16)}-${value.slice(16, 20)}-${value.slice(20)}`;
  }
  return /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/u.test(value)
    ? value.toLowerCase()
    : undefined;
}
