/**
 * `node tools/setup-check/main.ts [--quiet]`: lists every external tool and package the repository needs
 * and where it comes from; exits 1 (with what to do) when tools/setup.sh does not install one.
 * Run by tools/test-all.sh, so CI proves setup is complete on any machine, even one that has
 * the missing package installed by hand.
 */
import { fileURLToPath } from 'node:url';
import { checkSetup } from './check.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
// --quiet: only problems and the closing line (for CI logs).
const quiet = process.argv.includes('--quiet');
const result = checkSetup({ root });
for (const use of quiet ? [] : result.uses.sort((a, b) => a.tool.localeCompare(b.tool))) {
  const p = use.provider;
  const from =
    p === undefined
      ? 'UNKNOWN'
      : p.kind === 'apt' || p.kind === 'essential'
        ? `${p.kind} ${p.package}`
        : p.kind === 'setup'
          ? `setup: ${p.how}`
          : `${p.kind}: ${p.why}`;
  console.log(
    `${use.tool.padEnd(24)} ${from.padEnd(28)} ${use.where[0]}${use.where.length > 1 ? ` (+${use.where.length - 1})` : ''}`,
  );
}
if (!quiet) console.log(`setup installs: ${result.aptPackages.join(' ')}`);
if (result.problems.length > 0) {
  console.error(`\nsetup check: ${result.problems.length} problem(s):`);
  for (const problem of result.problems) console.error(`  - ${problem}`);
  process.exit(1);
}
console.log(
  `setup check: tools/setup.sh installs everything the scripts and tests use (${result.uses.length} tools, ${result.aptPackages.length} packages)`,
);
