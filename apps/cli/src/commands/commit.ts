import { parseArgs } from 'node:util';
import { resolveDatastorePath } from '@trident/datastore';
import { CliError, EXIT } from '../cli-error.ts';
import { createOutput } from '../output.ts';
import { rebootHost } from '../reboot.ts';
import { SERVICING_EXIT } from './stream-disk.ts';

export const COMMIT_USAGE = `Usage: trident commit [options]

Finishes a servicing on its first boot (run at boot by trident.service): when the Host Status waits
for this boot (clean-install-finalized, ab-update-finalized, manual-rollback-ab-finalized,
ab-update-health-check-failed), checks that / is the expected volume, runs health.checks, makes the
booted systemd-boot entry and UEFI entry the default, and records the host as provisioned. Any
other state: nothing to do (exit 0).

Options:
  --datastore PATH   the datastore (default: DatastorePath= in /etc/trident/trident.conf,
                     else /var/lib/trident/datastore.sqlite)
  --no-reboot        after an A/B update's failed health checks, leave the reboot back to the old
                     volume to the caller (default: reboot, as Trident does)
  --json             print the outcome as JSON
  -v, --verbose      also print debug messages (health-check polling)
  -h, --help         this text

Exit codes: 0 committed or nothing to do, 1 invalid input (no datastore, bad recorded
configuration), 2 commit failed (wrong root, health checks failed; recorded as lastError),
3 environment.`;

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        datastore: { type: 'string' },
        'no-reboot': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        verbose: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new CliError('CLI_BAD_OPTION', `${(error as Error).message}\n\n${COMMIT_USAGE}`);
  }
}

/** `trident commit`: the engine's commitHost, its outcome printed, Trident's exit codes. */
export async function commitCommand(argv: string[], signal: AbortSignal): Promise<number> {
  const { values } = parse(argv);
  const output = createOutput(values.json);
  if (values.help) {
    output.line(COMMIT_USAGE);
    return EXIT.ok;
  }
  const { commitHost } = await import('@trident/engine');
  const datastorePath = resolveDatastorePath(values.datastore);
  let outcome: Awaited<ReturnType<typeof commitHost>>;
  try {
    outcome = await commitHost({
      datastorePath,
      signal,
      log: (level, message) => {
        if (level !== 'debug' || values.verbose) output.error(`[${level.toUpperCase()}] ${message}`);
      },
    });
  } catch (error) {
    if (signal.aborted) {
      output.error('trident commit: interrupted');
      return EXIT.interrupted;
    }
    const info = (
      error as { tridentError?: { kind: string; subkind: string; code: string; message: string } }
    ).tridentError;
    if (!info) throw error;
    if (values.json) output.printJson({ result: 'failed', error: info });
    output.error(
      `trident: commit failed: ${info.kind}:${info.subkind}: [${info.code}] ${(error as Error).message}`,
    );
    // The whole chain too: at boot the journal is the only place anyone reads why.
    if (!values.json && info.message !== (error as Error).message) output.error(info.message);
    return SERVICING_EXIT[info.kind] ?? 2;
  }

  switch (outcome.result) {
    case 'nothing-to-do':
      if (values.json) output.printJson(outcome);
      else output.line(`No servicing in progress (servicing state ${outcome.state}): nothing to commit`);
      return EXIT.ok;
    case 'committed':
      if (values.json) output.printJson(outcome);
      else
        output.line(
          `committed: the host is provisioned on ${outcome.activeVolume}${outcome.checks.length > 0 ? ` (health checks passed: ${outcome.checks.join(', ')})` : ''}`,
        );
      return EXIT.ok;
    case 'needs-reboot': {
      const info = outcome.error.tridentError;
      if (values.json) output.printJson({ result: outcome.result, error: info });
      output.error(
        `trident: ${info.kind}:${info.subkind}: ${outcome.error.message}; the old volume boots next and its commit records the rollback`,
      );
      if (!values['no-reboot']) {
        output.error('Rebooting into the previous volume');
        rebootHost('return to the previous volume');
      }
      return SERVICING_EXIT[info.kind] ?? 2;
    }
  }
}
