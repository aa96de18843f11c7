import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { hostStatusDocument, openDatastore, resolveDatastorePath, toYaml } from '@trident/datastore';
import { CliError, EXIT } from '../cli-error.ts';
import { createOutput, type Output } from '../output.ts';
import { rebootHost } from '../reboot.ts';
import { SERVICING_EXIT } from './stream-disk.ts';

export const ROLLBACK_USAGE = `Usage: trident rollback [--check] [--runtime | --ab] [--allowed-operations stage,finalize] [options]

Returns the host to its state before the last update, as the datastore's rollback chain records it
(trident get rollback-chain). An A/B rollback points the next boot at the other volume and reboots;
the commit at that boot records it. A runtime rollback re-applies the earlier netplan at once.

Options:
  --check                      print the rollback that would run: none, ab or runtime (changes nothing)
  --runtime                    only roll back if the next rollback undoes a runtime update
  --ab                         roll back the last A/B update, skipping newer runtime updates
  --allowed-operations OPS     comma list of stage, finalize (default both; empty: neither)
  --no-reboot                  after an A/B rollback, leave the reboot to the caller
  --datastore PATH             the datastore (default: DatastorePath= in /etc/trident/trident.conf,
                               else /var/lib/trident/datastore.sqlite)
  -s, --status PATH            write the resulting Host Status (YAML) to PATH
  -e, --error PATH             write the error (YAML) to PATH if the rollback fails
  --json                       print the outcome as JSON
  -v, --verbose                also print debug messages
  -h, --help                   this text

Exit codes: 0 rolled back, staged, or nothing to roll back; 1 invalid input (no datastore,
--runtime/--ab expectation not met, wrong state); 2 the rollback failed (recorded as lastError);
3 environment.`;

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        check: { type: 'boolean', default: false },
        runtime: { type: 'boolean', default: false },
        ab: { type: 'boolean', default: false },
        'allowed-operations': { type: 'string', multiple: true },
        'no-reboot': { type: 'boolean', default: false },
        datastore: { type: 'string' },
        status: { type: 'string', short: 's' },
        error: { type: 'string', short: 'e' },
        json: { type: 'boolean', default: false },
        verbose: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new CliError('CLI_BAD_OPTION', `${(error as Error).message}\n\n${ROLLBACK_USAGE}`);
  }
}

interface TridentErrorLike {
  kind: string;
  subkind: string;
  code: string;
  message: string;
  errorMessage: string;
}

const tridentErrorOf = (error: unknown): TridentErrorLike | undefined =>
  (error as { tridentError?: TridentErrorLike }).tridentError;

async function writeOrFail(path: string, text: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (error) {
    throw new CliError('CLI_OUTPUT_UNWRITABLE', `cannot write ${path}: ${(error as Error).message}`, EXIT.io);
  }
}

/** `--status`: the Host Status after the command, as upstream writes it (errors only logged). */
async function writeStatus(path: string, datastorePath: string, output: Output): Promise<void> {
  try {
    const store = openDatastore(datastorePath, { readOnly: true });
    try {
      await writeOrFail(path, toYaml(hostStatusDocument(store.current())));
    } finally {
      store.close();
    }
  } catch (error) {
    output.error(`trident rollback: cannot write the Host Status to ${path}: ${(error as Error).message}`);
  }
}

function report(error: unknown, output: Output, json: boolean): number {
  const info = tridentErrorOf(error);
  if (!info) throw error;
  if (json) output.printJson({ result: 'failed', error: info });
  output.error(
    `trident: rollback failed: ${info.kind}:${info.subkind}: [${info.code}] ${(error as Error).message}`,
  );
  if (!json && info.message !== (error as Error).message) output.error(info.message);
  return SERVICING_EXIT[info.kind] ?? 2;
}

/** `trident rollback`: the engine's rollbackHost / checkRollback, Trident's outputs and exit codes. */
export async function rollbackCommand(argv: string[], signal: AbortSignal): Promise<number> {
  const { values } = parse(argv);
  const output = createOutput(values.json);
  if (values.help) {
    output.line(ROLLBACK_USAGE);
    return EXIT.ok;
  }
  const engine = await import('@trident/engine');
  const datastorePath = resolveDatastorePath(values.datastore);
  const log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => {
    if (level !== 'debug' || values.verbose) output.error(`[${level.toUpperCase()}] ${message}`);
  };

  let outcome: Awaited<ReturnType<typeof engine.rollbackHost>>;
  try {
    const request = engine.rollbackRequestFromFlags({ runtime: values.runtime, ab: values.ab });
    if (values.check) {
      const check = engine.checkRollback({ datastorePath, request });
      if (values.json) output.printJson({ check });
      else output.line(check);
      return EXIT.ok;
    }
    const operations = engine.parseAllowedOperations(values['allowed-operations']);
    outcome = await engine.rollbackHost({ datastorePath, request, operations, signal, log });
  } catch (error) {
    if (signal.aborted) {
      output.error('trident rollback: interrupted');
      return EXIT.interrupted;
    }
    const info = tridentErrorOf(error);
    if (values.error !== undefined && info) await writeOrFail(values.error, toYaml(info));
    if (values.status !== undefined) await writeStatus(values.status, datastorePath, output);
    return report(error, output, values.json);
  }
  if (values.status !== undefined) await writeStatus(values.status, datastorePath, output);

  if (values.json) output.printJson(outcome);
  switch (outcome.result) {
    case 'nothing-to-do':
      if (!values.json)
        output.line(`Nothing to roll back: ${outcome.reason} (servicing state ${outcome.state})`);
      return EXIT.ok;
    case 'staged':
      if (!values.json)
        output.line(
          `Staged a manual ${outcome.kind === 'ab' ? 'A/B' : 'runtime'} rollback (${outcome.state}); finish it with: trident rollback --allowed-operations finalize`,
        );
      return EXIT.ok;
    case 'finalized':
      if (outcome.kind === 'runtime') {
        if (!values.json)
          output.line(
            `Rolled back the runtime update: the host is provisioned with the earlier configuration${outcome.checks.length > 0 ? ` (health checks passed: ${outcome.checks.join(', ')})` : ''}`,
          );
        return EXIT.ok;
      }
      if (!values.json)
        output.line(
          `Rolled back the A/B update: ${outcome.boot.volume} boots next (manual-rollback-ab-finalized); the commit at that boot completes it`,
        );
      if (outcome.needsReboot && !values['no-reboot']) {
        output.error(`Rebooting into ${outcome.boot.volume}`);
        rebootHost(`boot ${outcome.boot.volume} and complete the rollback`);
      }
      return EXIT.ok;
  }
}
