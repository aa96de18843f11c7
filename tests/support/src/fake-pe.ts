/**
 * A minimal PE image holding the given sections and nothing else: what code that reads a UKI's
 * sections (its `.cmdline`, `.uname`, `.linux`) needs, without a real kernel. It does not boot; the
 * VM tests boot real UKIs.
 */
export function fakePe(sections: ReadonlyArray<readonly [name: string, bytes: Buffer]>): Buffer {
  const PE_HEADER = 0x40;
  const SECTION_TABLE = PE_HEADER + 24; // after the signature and the COFF file header
  const SECTION_HEADER = 40;
  let data = SECTION_TABLE + sections.length * SECTION_HEADER;
  const out = Buffer.alloc(data + sections.reduce((n, [, bytes]) => n + bytes.length, 0));
  out.write('MZ', 0, 'latin1');
  out.writeUInt32LE(PE_HEADER, 0x3c);
  out.write('PE\0\0', PE_HEADER, 'latin1');
  out.writeUInt16LE(sections.length, PE_HEADER + 6);
  sections.forEach(([name, bytes], i) => {
    const header = SECTION_TABLE + i * SECTION_HEADER;
    out.write(name, header, 'latin1');
    out.writeUInt32LE(bytes.length, header + 8); // VirtualSize
    out.writeUInt32LE(bytes.length, header + 16); // SizeOfRawData
    out.writeUInt32LE(data, header + 20); // PointerToRawData
    bytes.copy(out, data);
    data += bytes.length;
  });
  return out;
}
