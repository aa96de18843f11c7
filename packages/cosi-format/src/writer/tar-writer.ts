import { CosiError } from '../errors.ts';

/**
 * USTAR header encoding for COSI archives. COSI 1.2 §container and reference §9: USTAR headers,
 * mode 0400, mtime 0, uid/gid 0, no directory entries, and a PAX `x` header only when a name or a
 * size does not fit USTAR, so `cosi-marker` stays in the first 11 bytes of the file.
 */
export const TAR_BLOCK = 512;
/** End of archive: two zero blocks, and no padding to a 10 KiB record (as Go's archive/tar). */
export const TAR_END = new Uint8Array(2 * TAR_BLOCK);

/** Largest size the 11-digit octal USTAR size field holds (8 GiB - 1). */
const MAX_USTAR_SIZE = 0o77777777777;
const encoder = new TextEncoder();

export interface TarFileHeader {
  /** Member path; must be relative, without `./`, `..` or empty components. */
  name: string;
  size: number;
}

function writeString(block: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = encoder.encode(text);
  if (bytes.length > length) throw new Error(`tar field overflow: ${text}`);
  block.set(bytes, offset);
}

function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  // `length - 1` digits then a NUL, as POSIX and Go write them.
  writeString(block, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

function isAscii(text: string): boolean {
  return /^[\x20-\x7e]*$/u.test(text);
}

/** Splits a long name into USTAR `prefix` and `name` at a `/`, or returns undefined. */
function splitUstarName(name: string): { prefix: string; name: string } | undefined {
  if (name.length <= 100) return { prefix: '', name };
  for (let slash = name.indexOf('/'); slash !== -1; slash = name.indexOf('/', slash + 1)) {
    const prefix = name.slice(0, slash);
    const rest = name.slice(slash + 1);
    if (prefix.length <= 155 && rest.length > 0 && rest.length <= 100) return { prefix, name: rest };
  }
  return undefined;
}

function ustarBlock(name: string, prefix: string, size: number, typeflag: string): Uint8Array {
  const block = new Uint8Array(TAR_BLOCK);
  writeString(block, 0, 100, name);
  writeOctal(block, 100, 8, 0o400);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, 0);
  block.fill(0x20, 148, 156);
  writeString(block, 156, 1, typeflag);
  writeString(block, 257, 6, 'ustar\0');
  writeString(block, 263, 2, '00');
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  writeString(block, 345, 155, prefix);
  let sum = 0;
  for (const byte of block) sum += byte;
  // Six octal digits, NUL, space: the historical layout every reader accepts.
  writeString(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** One PAX record: `<len> <key>=<value>\n`, where `<len>` counts the whole record including itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = encoder.encode(body).length;
  // The length prefix counts its own digits: find the digit count that is self-consistent.
  let digits = 1;
  while (String(bodyLength + digits).length !== digits) digits++;
  return `${bodyLength + digits}${body}`;
}

export function checkMemberName(name: string): void {
  const parts = name.split('/');
  if (
    name === '' ||
    name.startsWith('/') ||
    name.includes('\0') ||
    parts.some((p) => p === '' || p === '.' || p === '..')
  ) {
    // COSI 1.2 §container: names MUST NOT start with `./` or `/`; we also refuse anything a reader
    // would normalise differently from the metadata path.
    throw new CosiError('COSI_BUILD_INPUT', `tar member name "${name}" is not a clean relative path`, {
      member: name,
    });
  }
}

/**
 * Encodes the header block(s) for one regular file: a plain USTAR block, preceded by a PAX `x`
 * header (with its data, padded) only when the name or size cannot be stored in USTAR.
 */
export function encodeTarHeader(header: TarFileHeader): Uint8Array {
  const { name, size } = header;
  checkMemberName(name);
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new CosiError('COSI_BUILD_INPUT', `tar member ${name} has invalid size ${size}`, { member: name });
  }
  const split = isAscii(name) ? splitUstarName(name) : undefined;
  const records: string[] = [];
  if (split === undefined) records.push(paxRecord('path', name));
  if (size > MAX_USTAR_SIZE) records.push(paxRecord('size', String(size)));
  const ustarName = split ?? { prefix: '', name: name.replace(/[^\x20-\x7e]/gu, '_').slice(-100) };
  const main = ustarBlock(ustarName.name, ustarName.prefix, size > MAX_USTAR_SIZE ? 0 : size, '0');
  if (records.length === 0) return main;

  const pax = encoder.encode(records.join(''));
  const base = (name.split('/').pop() ?? 'file').replace(/[^\x20-\x7e]/gu, '_');
  const paxName = `PaxHeaders/${base}`.slice(0, 100);
  const out = new Uint8Array(TAR_BLOCK + paddedLength(pax.length) + TAR_BLOCK);
  out.set(ustarBlock(paxName, '', pax.length, 'x'), 0);
  out.set(pax, TAR_BLOCK);
  out.set(main, TAR_BLOCK + paddedLength(pax.length));
  return out;
}

/** Data is padded with zeros to the next 512-byte boundary. */
export function paddedLength(size: number): number {
  return Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}
