/**
 * A minimal PE image with the sections UKI handling reads (`.cmdline`, `.linux`): enough for
 * boot configuration, which checks a UKI's embedded command line and copies its bytes but never
 * boots it (the VM tests boot real ones). Engine tests import it as
 * `@trident/boot-config/test-support/fake-uki`.
 */
export function fakeUki(cmdline: string, kernel = 'not a kernel'): Buffer {
  const sections = [
    ['.cmdline', Buffer.from(`${cmdline}\0`)],
    ['.linux', Buffer.from(kernel)],
  ] as const;
  const table = 0x40 + 24;
  let data = table + sections.length * 40;
  const out = Buffer.alloc(data + sections.reduce((n, [, b]) => n + b.length, 0));
  out.write('MZ', 0, 'latin1');
  out.writeUInt32LE(0x40, 0x3c);
  out.write('PE\0\0', 0x40, 'latin1');
  out.writeUInt16LE(sections.length, 0x40 + 6);
  sections.forEach(([name, bytes], i) => {
    const at = table + i * 40;
    out.write(name, at, 'latin1');
    out.writeUInt32LE(bytes.length, at + 8);
    out.writeUInt32LE(bytes.length, at + 16);
    out.writeUInt32LE(data, at + 20);
    bytes.copy(out, data);
    data += bytes.length;
  });
  return out;
}
