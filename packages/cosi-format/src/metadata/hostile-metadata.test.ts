import { describe, expect, it } from 'vitest';
import { createBufferSource } from '../byte-source.ts';
import { openCosi } from '../reader/open-cosi.ts';
import { buildFixtureCosi } from '../test-support/fixture-cosi.ts';
import { MAX_FINDINGS } from '../validation/findings.ts';
import { MAX_JSON_DEPTH, scanJson } from '../validation/json-scan.ts';
import { MAX_METADATA_BYTES, parseMetadataBytes } from './parse.ts';
import { validateMetadataDocument } from './standalone.ts';

/**
 * Metadata written to exhaust memory or the stack: every list a hostile document can grow is
 * capped (first MAX_FINDINGS findings plus a count), metadata.json is read with a size limit, and
 * nesting is refused before anything recursive sees it.
 */

const base = JSON.stringify(buildFixtureCosi().metadata);
const encode = (text: string) => new TextEncoder().encode(text);
/** The fixture's metadata with one more field holding `count` copies of `item`. */
const withExtra = (item: string, count: number) =>
  `${base.slice(0, -1)},"extra":[${`${item},`.repeat(count - 1)}${item}]}`;

describe('hostile metadata', () => {
  it('refuses metadata.json over 16 MiB before reading it', async () => {
    const big = encode(withExtra('1', (MAX_METADATA_BYTES + 4096) / 2));
    expect(big.length).toBeGreaterThan(MAX_METADATA_BYTES);
    const fixture = buildFixtureCosi({ metadataText: new TextDecoder().decode(big) });
    let reads = 0;
    const source = createBufferSource(fixture.bytes, 'big.cosi');
    const counting = {
      ...source,
      read: (offset: number, length: number) => {
        reads += length;
        return source.read(offset, length);
      },
    };
    await expect(openCosi(counting)).rejects.toMatchObject({
      code: 'COSI_METADATA_TOO_LARGE',
      member: 'metadata.json',
      message: expect.stringContaining('at most 16777216'),
    });
    expect(reads).toBeLessThan(64 * 1024); // the tar headers only
    expect(parseMetadataBytes(big)).toMatchObject({ ok: false });
  });

  it('counts a million non-integer numbers instead of making a finding for each', async () => {
    const text = withExtra('1.0', 1_000_000);
    const reader = await openCosi(createBufferSource(buildFixtureCosi({ metadataText: text }).bytes));
    const report = await reader.validate('trident');
    expect(report.valid).toBe(false);
    expect(report.errors).toHaveLength(MAX_FINDINGS);
    expect(report.errors[0]).toMatchObject({ code: 'COSI_NUMBER_NOT_INTEGER', path: 'extra[0]' });
    expect(report.errors.length + report.omittedErrors).toBe(1_000_000);
    // The scan itself keeps only the first paths.
    const scan = scanJson(text);
    expect(scan.nonIntegerNumbers).toHaveLength(MAX_FINDINGS);
    expect(scan.nonIntegerCount).toBe(1_000_000);
  });

  it('counts half a million repeated keys', () => {
    const report = validateMetadataDocument(encode(withExtra('{"k":1,"k":2}', 500_000)), 'trident');
    expect(report.errors.filter((e) => e.code === 'COSI_DUPLICATE_KEY')).toHaveLength(MAX_FINDINGS);
    expect(report.errors[1]).toMatchObject({ path: 'extra[1].k' });
    expect(report.errors.length + report.omittedErrors).toBe(500_000);
  });

  it('stops the shape check after MAX_FINDINGS issues and says what it did not check', () => {
    const text = base.replace(
      /"images":\[.*?\],"osPackages"/u,
      `"images":[${'0,'.repeat(999_999)}0],"osPackages"`,
    );
    const result = parseMetadataBytes(encode(text));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const errors = result.findings.items.filter((f) => f.severity === 'error');
    expect(errors).toHaveLength(MAX_FINDINGS);
    expect(errors[0]).toMatchObject({ code: 'COSI_FIELD_INVALID', path: 'images[0]' });
    expect(result.findings.items.find((f) => f.code === 'COSI_CHECK_STOPPED')).toMatchObject({
      path: 'images',
      message: expect.stringContaining('999000 more element(s)'),
    });
  });

  it('refuses metadata nested 20,000 deep with a coded finding, not a stack overflow', async () => {
    const deep = `${base.slice(0, -1)},"extra":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const fixture = buildFixtureCosi({ metadataText: deep });
    const error = await openCosi(createBufferSource(fixture.bytes)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'COSI_METADATA_TOO_DEEP' });
    expect((error as Error).message).toContain(`more than ${MAX_JSON_DEPTH} levels`);
    // Nesting inside a string is text, not depth.
    const inString = `${base.slice(0, -1)},"extra":"${'['.repeat(20_000)}"}`;
    expect(parseMetadataBytes(encode(inString)).ok).toBe(true);
  });

  it('accepts nesting up to the limit, as serde_json does', () => {
    const depth = MAX_JSON_DEPTH - 1; // the top-level object is the first level
    const nested = `${base.slice(0, -1)},"extra":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    expect(parseMetadataBytes(encode(nested)).ok).toBe(true);
    const over = `${base.slice(0, -1)},"extra":${'['.repeat(depth + 1)}${']'.repeat(depth + 1)}}`;
    expect(parseMetadataBytes(encode(over)).ok).toBe(false);
  });
});
