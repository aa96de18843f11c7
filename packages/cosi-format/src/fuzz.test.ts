import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBufferSource } from './byte-source.ts';
import { CosiError } from './errors.ts';
import { parseGpt } from './gpt/gpt.ts';
import { parseMetadataBytes } from './metadata/parse.ts';
import { openCosi } from './reader/open-cosi.ts';
import { readTarIndex } from './tar/tar-index.ts';
import { buildFixtureCosi } from './test-support/fixture-cosi.ts';
import { buildGptRegion } from './test-support/memory-gpt.ts';
import { validateCosiContext } from './validation/validate.ts';

/**
 * Hostile input must never escape as anything but a CosiError: no TypeError, RangeError, hang or
 * crash. At least 10,000 cases per parser (FUZZ_RUNS overrides, e.g. for a longer local run).
 */
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 10_000);

function onlyCosiErrors(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof CosiError)) throw error;
  }
}

async function onlyCosiErrorsAsync(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof CosiError)) throw error;
  }
}

/** Byte flips, truncations and splices of a valid input: what real corruption looks like. */
function mutated(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  const flips = fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), {
    minLength: 1,
    maxLength: 8,
  });
  return fc.oneof(
    flips.map((edits) => {
      const copy = Uint8Array.from(base);
      for (const [at, value] of edits) copy[at] = value;
      return copy;
    }),
    fc.nat(base.length).map((length) => base.subarray(0, length)),
    fc
      .tuple(fc.nat(base.length), fc.uint8Array({ maxLength: 1024 }))
      .map(([at, junk]) => Buffer.concat([base.subarray(0, at), junk])),
  );
}

const fixture = buildFixtureCosi();
const tarHead = fixture.bytes.subarray(0, 8192);

describe('fuzzing', () => {
  it('tar index: arbitrary and mutated archives give only coded errors', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 4096 }), mutated(tarHead)), async (bytes) => {
        await onlyCosiErrorsAsync(() => readTarIndex(createBufferSource(bytes)));
      }),
      { numRuns: RUNS },
    );
  });

  it('metadata parser: arbitrary bytes, arbitrary JSON and mutated metadata give findings, never exceptions', () => {
    const text = JSON.stringify(fixture.metadata);
    const base = new TextEncoder().encode(text);
    const jsonish = fc.oneof(
      fc.json().map((json) => new TextEncoder().encode(json)),
      fc.uint8Array({ maxLength: 512 }),
      mutated(base),
      fc.jsonValue().map((value) =>
        new TextEncoder().encode(
          JSON.stringify({
            ...fixture.metadata,
            images: [{ ...fixture.metadata['images'][0], image: value }],
          }),
        ),
      ),
    );
    fc.assert(
      fc.property(jsonish, (bytes) => {
        const result = parseMetadataBytes(bytes);
        if (result.ok) {
          for (const profile of ['trident', 'spec'] as const) {
            const report = validateCosiContext({ parsed: result }, profile);
            expect(report.valid).toBe(report.errors.length === 0);
          }
        } else {
          expect(result.findings.items.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('GPT parser: arbitrary and mutated tables give only coded errors', () => {
    const base = buildGptRegion({
      lbaSize: 512,
      diskSize: 64 * 1024 * 1024,
      partitions: [
        {
          typeGuid: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
          partitionGuid: '01234567-89ab-cdef-0123-456789abcdef',
          firstLba: 2048,
          lastLba: 4095,
          name: 'esp',
        },
      ],
    });
    // Mutations confined to the header and first entries, where parsing decisions happen.
    const head = base.subarray(0, 1024 + 512);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 2048 }),
          mutated(head).map((h) => Buffer.concat([h, base.subarray(h.length)])),
        ),
        (bytes) => {
          onlyCosiErrors(() => parseGpt(bytes, { lbaSize: 512, diskSize: 64 * 1024 * 1024 }));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('whole reader: mutated COSI files open, validate and verify with only coded errors', async () => {
    await fc.assert(
      fc.asyncProperty(mutated(fixture.bytes), async (bytes) => {
        await onlyCosiErrorsAsync(async () => {
          const reader = await openCosi(createBufferSource(bytes));
          await reader.validate('trident');
          await reader.validate('spec');
          await reader.verifyImages();
        });
      }),
      { numRuns: Math.ceil(RUNS / 10) },
    );
    // A thousand whole-reader runs, each decoding images: about a minute on a busy shared machine.
    // This test is about what escapes, not speed; a generous timeout keeps it from failing on load.
  }, 300_000);
});
