import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  type Datastore,
  hostStatusDocument,
  openDatastore,
  resolveDatastorePath,
  toYaml,
} from '@trident/datastore';
import { CliError, EXIT } from '../cli-error.ts';
import { createOutput } from '../output.ts';
import { SERVICING_EXIT } from './stream-disk.ts';

/** What `trident get` can show: Trident's names (`GetKind`), plus `config` as a short alias. */
const KINDS = ['status', 'configuration', 'last-error', 'rollback-chain', 'rollback-target'] as const;
type GetKind = (typeof KINDS)[number];
const ALIASES: Record<string, GetKind> = { config: 'configuration' };

export const GET_USAGE = `Usage: trident get [status|configuration|last-error|rollback-chain|rollback-target] [options]

Shows what the datastore records about this host (default: status).
  status           the Host Status: servicing state, active volume, partitions, configuration, last error
  configuration    the Host Configuration (spec) of the current or last servicing (alias: config)
  last-error       the error the last servicing recorded, or null
  rollback-chain   the states a manual rollback can return to, newest first
  rollback-target  the Host Configuration the next manual rollback would restore, or {}

Options:
  --format yaml|json      output format (default yaml; --json is --format json)
  --datastore PATH        the datastore (default: DatastorePath= in /etc/trident/trident.conf,
                          else /var/lib/trident/datastore.sqlite)
  -o, --outfile PATH      write the output to PATH instead of standard output
  -h, --help              this text

Exit codes: 0 ok, 1 a rollback chain that cannot be read (invalid-rollback-expectation), 2 bad
command line, 3 no datastore or an unreadable one.`;

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        format: { type: 'string' },
        json: { type: 'boolean', default: false },
        datastore: { type: 'string' },
        outfile: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new CliError('CLI_BAD_OPTION', `${(error as Error).message}\n\n${GET_USAGE}`);
  }
}

function kindOf(word: string | undefined): GetKind {
  if (word === undefined) return 'status';
  const kind = ALIASES[word] ?? word;
  if (!(KINDS as readonly string[]).includes(kind))
    throw new CliError(
      'CLI_UNKNOWN_COMMAND',
      `trident get: '${word}' is not one of ${KINDS.join(', ')}\n\n${GET_USAGE}`,
    );
  return kind as GetKind;
}

/** The value Trident prints for each kind (its YAML shapes: `null` and `{}` for nothing). */
async function selectValue(store: Datastore, kind: GetKind): Promise<unknown> {
  switch (kind) {
    case 'status':
      return hostStatusDocument(store.current());
    case 'configuration':
      return store.current().spec;
    case 'last-error':
      return store.current().lastError ?? null;
    case 'rollback-chain':
    case 'rollback-target': {
      // The engine owns the chain's reading (an unreadable newest row is an error there, as
      // upstream's) and its printed shape; loaded only for these two kinds.
      const { chainOf, rollbackChainDocument } = await import('@trident/engine');
      const chain = chainOf(store);
      if (kind === 'rollback-target') return chain[0]?.spec ?? {};
      return rollbackChainDocument(chain);
    }
  }
}

/** `trident get`: reads the datastore (never writes it) and prints one part of the Host Status. */
export async function getCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  const output = createOutput(false);
  if (values.help) {
    output.line(GET_USAGE);
    return EXIT.ok;
  }
  if (positionals.length > 1)
    throw new CliError(
      'CLI_BAD_OPTION',
      `trident get takes one kind, not ${positionals.join(' ')}\n\n${GET_USAGE}`,
    );
  const kind = kindOf(positionals[0]);
  const format = values.json ? 'json' : (values.format ?? 'yaml');
  if (format !== 'yaml' && format !== 'json')
    throw new CliError('CLI_BAD_OPTION', `--format must be yaml or json, not '${format}'`);

  const path = resolveDatastorePath(values.datastore);
  // Read-only: a reader never creates or changes a datastore (Trident's `get` leaves an empty
  // one behind where none was).
  const store = openDatastore(path, { readOnly: true });
  let text: string;
  try {
    const value = await selectValue(store, kind);
    text = format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : toYaml(value);
  } catch (error) {
    const info = (error as { tridentError?: { kind: string; subkind: string; code: string } }).tridentError;
    if (info === undefined) throw error;
    throw new CliError(
      info.code,
      `trident get ${kind}: ${info.kind}:${info.subkind}: ${(error as Error).message}`,
      SERVICING_EXIT[info.kind] ?? EXIT.io,
    );
  } finally {
    store.close();
  }

  if (values.outfile === undefined) {
    process.stdout.write(text);
    return EXIT.ok;
  }
  try {
    await writeFile(values.outfile, text);
  } catch (error) {
    throw new CliError(
      'CLI_OUTPUT_UNWRITABLE',
      `cannot write ${values.outfile}: ${(error as Error).message}`,
      EXIT.io,
    );
  }
  return EXIT.ok;
}
