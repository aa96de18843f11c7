import { CosiError } from '../errors.ts';

/** One 512-byte tar header block, decoded but not yet merged with extension headers. */
export interface RawTarHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  /** `ustar` (POSIX, magic `ustar\0`), `gnu` (magic `ustar  `) or `v7` (no magic). */
  format: 'ustar' | 'gnu' | 'v7';
}

export const BLOCK = 512;

const decoder = new TextDecoder('utf-8', { fatal: false });

function cString(block: Uint8Array, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const nul = field.indexOf(0);
  return decoder.decode(nul === -1 ? field : field.subarray(0, nul));
}

/**
 * Numeric header fields are octal text, or (GNU/star extension, needed for sizes ≥ 8 GiB)
 * big-endian base-256 when the first byte has its high bit set.
 */
function numericField(block: Uint8Array, start: number, length: number, what: string, at: number): number {
  const field = block.subarray(start, start + length);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    if ((field[0] ?? 0) & 0x40) {
      throw new CosiError('COSI_TAR_HEADER_INVALID', `tar header at offset ${at}: negative ${what}`, {
        offset: at,
      });
    }
    let value = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) {
      value = value * 256 + (field[i] ?? 0);
      if (value > Number.MAX_SAFE_INTEGER) {
        throw new CosiError('COSI_TAR_HEADER_INVALID', `tar header at offset ${at}: ${what} is too large`, {
          offset: at,
        });
      }
    }
    return value;
  }
  const text = decoder
    .decode(field)
    .replace(/[\0 ]+$/u, '')
    .replace(/^[ ]+/u, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/u.test(text)) {
    throw new CosiError(
      'COSI_TAR_HEADER_INVALID',
      `tar header at offset ${at}: ${what} field "${text}" is not octal`,
      {
        offset: at,
      },
    );
  }
  const value = Number.parseInt(text, 8);
  if (!Number.isSafeInteger(value)) {
    throw new CosiError('COSI_TAR_HEADER_INVALID', `tar header at offset ${at}: ${what} is too large`, {
      offset: at,
    });
  }
  return value;
}

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Sum of the header bytes with the checksum field counted as spaces; unsigned and signed, as GNU tar accepts both. */
function checksums(block: Uint8Array): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return { unsigned, signed };
}

export function parseTarHeader(block: Uint8Array, at: number): RawTarHeader {
  let recorded: number;
  try {
    recorded = numericField(block, 148, 8, 'checksum', at);
  } catch {
    throw new CosiError(
      'COSI_TAR_CHECKSUM',
      `tar header at offset ${at}: the checksum field is not a number; the file is not a tar archive or is corrupt`,
      {
        offset: at,
      },
    );
  }
  const { unsigned, signed } = checksums(block);
  if (recorded !== unsigned && recorded !== signed) {
    throw new CosiError(
      'COSI_TAR_CHECKSUM',
      `tar header at offset ${at}: checksum mismatch (recorded ${recorded}, computed ${unsigned}); the file is not a tar archive or is corrupt`,
      { offset: at },
    );
  }
  const magic = decoder.decode(block.subarray(257, 265));
  const format =
    magic === 'ustar\u000000' || magic.startsWith('ustar\0') ? 'ustar' : magic === 'ustar  \0' ? 'gnu' : 'v7';
  let name = cString(block, 0, 100);
  // The 155-byte prefix exists only in POSIX ustar headers; GNU headers use that area for other fields.
  if (format === 'ustar') {
    const prefix = cString(block, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  return {
    name,
    mode: numericField(block, 100, 8, 'mode', at),
    uid: numericField(block, 108, 8, 'uid', at),
    gid: numericField(block, 116, 8, 'gid', at),
    size: numericField(block, 124, 12, 'size', at),
    mtime: numericField(block, 136, 12, 'mtime', at),
    typeflag: block[156] === 0 ? '0' : String.fromCharCode(block[156] ?? 0),
    linkname: cString(block, 157, 100),
    format,
  };
}

/**
 * PAX extended header records: `<len> <key>=<value>\n`, where `len` counts the whole record.
 * Later records win, as in POSIX.
 */
export function parsePaxRecords(data: Uint8Array, at: number): Map<string, string> {
  const records = new Map<string, string>();
  // Lengths count bytes, not characters, so records are cut from the bytes before decoding.
  const raw = data;
  let position = 0;
  while (position < raw.length) {
    if (raw[position] === 0) break; // trailing NUL padding
    const space = raw.indexOf(0x20, position);
    if (space === -1) break;
    const length = Number.parseInt(new TextDecoder().decode(raw.subarray(position, space)), 10);
    if (!Number.isSafeInteger(length) || length <= space - position || position + length > raw.length) {
      throw new CosiError(
        'COSI_TAR_EXTENSION_INVALID',
        `PAX header at offset ${at}: malformed record at byte ${position}`,
        {
          offset: at,
        },
      );
    }
    const record = new TextDecoder().decode(raw.subarray(space + 1, position + length));
    if (!record.endsWith('\n') || !record.includes('=')) {
      throw new CosiError(
        'COSI_TAR_EXTENSION_INVALID',
        `PAX header at offset ${at}: malformed record at byte ${position}`,
        {
          offset: at,
        },
      );
    }
    const equals = record.indexOf('=');
    records.set(record.slice(0, equals), record.slice(equals + 1, -1));
    position += length;
  }
  return records;
}
