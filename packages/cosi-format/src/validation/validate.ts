import { MIN_ENTRY_ARRAY_BYTES } from '../gpt/gpt.ts';
import { checkContainerRules } from './container-rules.ts';
import type { ValidationContext } from './context.ts';
import { FindingList, toReport, type ValidationProfile, type ValidationReport } from './findings.ts';
import { checkSpecRules } from './spec-rules.ts';
import { checkTridentRules } from './trident-rules.ts';

/**
 * Validates parsed metadata, and whatever else the context holds (tar index, decoded GPT), against
 * one profile. Pure: the reader gathers the context.
 */
export function validateCosiContext(
  context: ValidationContext,
  profile: ValidationProfile,
): ValidationReport {
  const findings = new FindingList();
  if (profile === 'trident') checkTridentRules(context, findings);
  else checkSpecRules(context, findings);
  checkContainerRules(context, profile, findings);
  warnOnRegionOrder(context, findings);
  checkEntryArraySize(context, profile, findings);
  return toReport(profile, findings);
}

/**
 * COSI 1.2 says regions follow the disk's physical order. Image Customizer writes them in
 * partition-number order, so for both profiles this is a warning, not an error.
 */
function warnOnRegionOrder({ parsed, gpt }: ValidationContext, findings: FindingList): void {
  const table = gpt?.table;
  if (!table) return;
  let previousStart = -1;
  (parsed.metadata.disk?.gptRegions ?? []).forEach((region, i) => {
    const partition = table.partitions.find((p) => region.type === 'partition' && p.number === region.number);
    if (!partition) return;
    if (partition.firstLba < previousStart) {
      findings.warn(
        'COSI_REGION_ORDER',
        `disk.gptRegions[${i}]`,
        `the region for partition ${region.number} is listed after a partition that starts later on the disk (regions should follow LBA order)`,
      );
    }
    previousStart = Math.max(previousStart, partition.firstLba);
  });
}

/**
 * UEFI 2.10 §5.3.2 reserves at least 16 KiB for the entry array. Smaller arrays are written and
 * read fine by block-writer and Linux, so only the spec profile refuses them.
 */
function checkEntryArraySize(
  { gpt }: ValidationContext,
  profile: ValidationProfile,
  findings: FindingList,
): void {
  const header = gpt?.table?.header;
  if (!header) return;
  const bytes = header.numberOfEntries * header.entrySize;
  if (bytes >= MIN_ENTRY_ARRAY_BYTES) return;
  const message = `the GPT entry array is ${header.numberOfEntries} x ${header.entrySize} = ${bytes} bytes; UEFI requires at least ${MIN_ENTRY_ARRAY_BYTES} (128 entries of 128 bytes)`;
  if (profile === 'spec') findings.error('COSI_GPT_ENTRY_ARRAY_SMALL', 'disk.gptRegions[0].image', message);
  else findings.warn('COSI_GPT_ENTRY_ARRAY_SMALL', 'disk.gptRegions[0].image', message);
}
