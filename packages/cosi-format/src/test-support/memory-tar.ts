/**
 * A minimal in-memory ustar writer for tests: it lets a test put any bytes, in any order, with any
 * header quirk, into an archive, which the real writer (deliberately) never does.
 */
export interface MemoryMember {
  name: string;
  data?: Uint8Array | string;
  typeflag?: string;
  /** Prepend a PAX `x` header with these records. */
  pax?: Record<string, string>;
  /** Prepend a GNU `L` long-name header with this name (the ustar name is then truncated). */
  gnuLongName?: string;
  /** Corrupt the header checksum. */
  badChecksum?: boolean;
  /** Override the size field (e.g. to claim more bytes than follow). */
  sizeField?: number;
}

const encoder = new TextEncoder();

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, '0') + '\0';
}

export function tarHeader(
  name: string,
  size: number,
  typeflag: string,
  options: { badChecksum?: boolean; gnu?: boolean } = {},
): Uint8Array {
  const block = new Uint8Array(512);
  block.set(encoder.encode(name).subarray(0, 100), 0);
  block.set(encoder.encode(octal(0o400, 8)), 100);
  block.set(encoder.encode(octal(0, 8)), 108);
  block.set(encoder.encode(octal(0, 8)), 116);
  block.set(encoder.encode(octal(size, 12)), 124);
  block.set(encoder.encode(octal(0, 12)), 136);
  block[156] = typeflag.charCodeAt(0);
  block.set(encoder.encode(options.gnu ? 'ustar  \0' : 'ustar\u000000'), 257);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  if (options.badChecksum) sum += 1;
  block.set(encoder.encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
  return block;
}

function padded(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}

function paxData(records: Record<string, string>): Uint8Array {
  let text = '';
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length = String(length).length + body.length;
    text += `${length}${body}`;
  }
  return encoder.encode(text);
}

export function buildTar(
  members: MemoryMember[],
  options: { endBlocks?: number; trailer?: Uint8Array } = {},
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const member of members) {
    const data =
      typeof member.data === 'string' ? encoder.encode(member.data) : (member.data ?? new Uint8Array(0));
    if (member.pax) {
      const pax = paxData(member.pax);
      parts.push(tarHeader('PaxHeaders/x', pax.length, 'x'), padded(pax));
    }
    if (member.gnuLongName !== undefined) {
      const long = encoder.encode(`${member.gnuLongName}\0`);
      parts.push(tarHeader('././@LongLink', long.length, 'L', { gnu: true }), padded(long));
    }
    parts.push(
      tarHeader(member.name, member.sizeField ?? data.length, member.typeflag ?? '0', {
        ...(member.badChecksum ? { badChecksum: true } : {}),
        ...(member.gnuLongName !== undefined ? { gnu: true } : {}),
      }),
      padded(data),
    );
  }
  for (let i = 0; i < (options.endBlocks ?? 2); i++) parts.push(new Uint8Array(512));
  if (options.trailer) parts.push(options.trailer);
  return Buffer.concat(parts);
}
