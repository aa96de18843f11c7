import { describe, expect, it } from 'vitest';
import { parseHostConfig, plainDocument } from './index.ts';

describe('plainDocument', () => {
  it('gives the document as plain data that the parser reads back the same (the recorded spec)', () => {
    const text =
      'os:\n  hostname: h\n  netplan:\n    version: 2\n    ethernets:\n      e:\n        dhcp4: true\n';
    const plain = plainDocument(parseHostConfig(text).source?.value);
    expect(plain).toEqual({
      os: { hostname: 'h', netplan: { version: 2, ethernets: { e: { dhcp4: true } } } },
    });
    // Read back, it gives the same findings (here: rules about storage this document lacks).
    const again = parseHostConfig(JSON.stringify(plain));
    const first = parseHostConfig(text);
    expect(again.findings.map((f) => f.code)).toEqual(first.findings.map((f) => f.code));
    expect(again.findings.some((f) => f.code.includes('TYPE'))).toBe(false);
  });
});
