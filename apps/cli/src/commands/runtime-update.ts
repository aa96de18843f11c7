import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { resolveDatastorePath } from '@trident/datastore';
import { CliError, EXIT } from '../cli-error.ts';
import { createOutput } from '../output.ts';
import { SERVICING_EXIT } from './stream-disk.ts';

export const RUNTIME_UPDATE_USAGE = `Usage: trident runtime-update [config] [options]

Applies a Host Configuration whose only changes are os.sysexts, os.confexts or os.netplan to the
running host, without a reboot (upstream's runtime update; trident update selects it for such a
change). Stage downloads new extension images into /var/lib/extensions/.staging (SHA-384 checked)
and records runtime-update-staged; finalize moves them into place, removes images the configuration
dropped, refreshes systemd-sysext/systemd-confext, applies netplan, runs the runtime-update health
checks and records provisioned. A failed finalize re-applies the previous configuration (exit 2,
the error in trident get last-error). Any other change is refused: it needs an A/B update.

Options:
  config                        the Host Configuration (default /etc/trident/config.yaml)
  --allowed-operations LIST     stage, finalize or both (default stage,finalize)
  --datastore PATH              the datastore (default: DatastorePath= in /etc/trident/trident.conf,
                                else /var/lib/trident/datastore.sqlite)
  --json                        print the outcome as JSON
  -v, --verbose                 also print debug messages
  -h, --help                    this text

Exit codes: 0 updated, staged or nothing to do, 1 invalid input (no datastore, a change that needs
an A/B update), 2 servicing failed (rolled back when finalize failed), 3 environment, 4 interrupted.`;

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'allowed-operations': { type: 'string', default: 'stage,finalize' },
        datastore: { type: 'string' },
        json: { type: 'boolean', default: false },
        verbose: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new CliError('CLI_BAD_OPTION', `${(error as Error).message}\n\n${RUNTIME_UPDATE_USAGE}`);
  }
}

function allowedOperations(text: string): { stage: boolean; finalize: boolean } {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = names.filter((n) => n !== 'stage' && n !== 'finalize');
  if (names.length === 0 || unknown.length > 0)
    throw new CliError(
      'CLI_BAD_OPTION',
      `--allowed-operations takes stage, finalize or stage,finalize, not "${text}"`,
    );
  return { stage: names.includes('stage'), finalize: names.includes('finalize') };
}

/** `trident runtime-update`: the engine's runtimeUpdate, its outcome printed, Trident's exit codes. */
export async function runtimeUpdateCommand(argv: string[], signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(argv);
  const output = createOutput(values.json);
  if (values.help) {
    output.line(RUNTIME_UPDATE_USAGE);
    return EXIT.ok;
  }
  if (positionals.length > 1)
    throw new CliError(
      'CLI_BAD_OPTION',
      `one Host Configuration, not ${positionals.length}\n\n${RUNTIME_UPDATE_USAGE}`,
    );
  const path = positionals[0] ?? '/etc/trident/config.yaml';
  const allowed = allowedOperations(values['allowed-operations']);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError(
      'CLI_CONFIG_UNREADABLE',
      `cannot read Host Configuration ${path}: ${(error as Error).message}`,
      EXIT.io,
    );
  }
  const { runtimeUpdate } = await import('@trident/engine');
  let outcome: Awaited<ReturnType<typeof runtimeUpdate>>;
  try {
    outcome = await runtimeUpdate({
      datastorePath: resolveDatastorePath(values.datastore),
      hostConfiguration: { text, path },
      allowedOperations: allowed,
      signal,
      log: (level, message) => {
        if (level !== 'debug' || values.verbose) output.error(`[${level.toUpperCase()}] ${message}`);
      },
    });
  } catch (error) {
    if (signal.aborted) {
      output.error('trident runtime-update: interrupted');
      return EXIT.interrupted;
    }
    const info = (
      error as { tridentError?: { kind: string; subkind: string; code: string; message: string } }
    ).tridentError;
    if (!info) throw error;
    if (values.json) output.printJson({ result: 'failed', error: info });
    output.error(
      `trident: runtime update failed: ${info.kind}:${info.subkind}: [${info.code}] ${(error as Error).message}`,
    );
    if (!values.json && info.message !== (error as Error).message) output.error(info.message);
    return SERVICING_EXIT[info.kind] ?? 2;
  }
  switch (outcome.result) {
    case 'nothing-to-do':
      if (values.json) output.printJson(outcome);
      else output.line(`Nothing to do: ${outcome.reason}`);
      return EXIT.ok;
    case 'staged':
      if (values.json) output.printJson(outcome);
      else
        output.line(`Staged (runtime-update-staged): ${outcome.images.join('; ') || 'no extension images'}`);
      return EXIT.ok;
    case 'updated':
      if (values.json) output.printJson(outcome);
      else {
        for (const path of outcome.placed) output.line(`placed ${path}`);
        for (const path of outcome.removed) output.line(`removed ${path}`);
        for (const action of outcome.actions) output.line(`ran ${action}`);
        output.line(
          `updated: the host is provisioned with the new configuration${outcome.checks.length > 0 ? ` (health checks passed: ${outcome.checks.join(', ')})` : ''}`,
        );
      }
      return EXIT.ok;
    case 'rolled-back': {
      const info = outcome.error.tridentError;
      if (values.json) output.printJson({ result: outcome.result, error: info, actions: outcome.actions });
      output.error(
        `trident: runtime update rolled back: ${info.kind}:${info.subkind}: [${info.code}] ${outcome.error.message}; the previous configuration was applied again`,
      );
      if (!values.json && info.message !== outcome.error.message) output.error(info.message);
      return SERVICING_EXIT[info.kind] ?? 2;
    }
  }
}
