/** `Range: bytes=S-E` (inclusive end); `E` omitted for an open-ended range. RFC 9110 §14.1.2. */
export function formatRange(start: number, end: number | undefined): string {
  return end === undefined ? `bytes=${start}-` : `bytes=${start}-${end}`;
}

export interface ContentRange {
  start: number;
  end: number;
  /** Complete length, undefined for `*`. */
  total: number | undefined;
}

/** Parses `Content-Range: bytes S-E/T` (RFC 9110 §14.4). Returns undefined when malformed. */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  if (value === undefined) return undefined;
  const match = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value);
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  // A position beyond 2^53 is no real object: treat the header as malformed, never as a size.
  if (!Number.isSafeInteger(end) || (total !== undefined && !Number.isSafeInteger(total))) return undefined;
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
}

/** The complete length from an unsatisfied-range `Content-Range: bytes * /T` (416 responses). */
export function parseUnsatisfiedRange(value: string | undefined): number | undefined {
  const match = value === undefined ? null : /^\s*bytes\s+\*\/(\d+)\s*$/i.exec(value);
  const total = match ? Number(match[1]) : Number.NaN;
  return Number.isSafeInteger(total) ? total : undefined;
}

/** Strong ETags can validate `If-Range`; weak ones (`W/"..."`) cannot (RFC 9110 §13.1.5). */
export function isStrongEtag(etag: string | undefined): etag is string {
  return etag !== undefined && !etag.startsWith('W/');
}

/** Weak comparison: the same opaque tag, ignoring the W/ prefix. */
export function sameEtag(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}
