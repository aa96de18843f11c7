import { readFileSync } from 'node:fs';
import { CliError } from './cli-error.ts';

/** Flags that shape how remote COSI sources (HTTP and OCI) are reached. */
export interface SourceFlags {
  caFile?: string | undefined;
  header?: string[] | undefined;
  plainHttp?: boolean | undefined;
  platform?: string | undefined;
  username?: string | undefined;
  passwordStdin?: boolean | undefined;
}

/**
 * Turns CLI flags into @trident/remote-source options. The registry password never comes from the
 * command line (it would show in `ps`): from stdin with --password-stdin, or TRIDENT_REGISTRY_PASSWORD.
 */
export function remoteOptions(flags: SourceFlags): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  if (flags.caFile) {
    try {
      options['ca'] = readFileSync(flags.caFile);
    } catch (error) {
      throw new CliError(
        'CLI_CA_FILE',
        `cannot read --ca-file ${flags.caFile}: ${(error as Error).message}`,
        3,
      );
    }
  }
  if (flags.header && flags.header.length > 0) {
    const headers: Record<string, string> = {};
    for (const line of flags.header) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new CliError('CLI_BAD_OPTION', `--header must be "Name: value", not "${line}"`);
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    options['headers'] = headers;
  }
  if (flags.plainHttp) options['plainHttp'] = true;
  if (flags.platform) {
    const [os, architecture, variant] = flags.platform.split('/');
    if (!os || !architecture)
      throw new CliError(
        'CLI_BAD_OPTION',
        `--platform must be OS/ARCH[/VARIANT] (e.g. linux/amd64), not "${flags.platform}"`,
      );
    options['platform'] = { os, architecture, ...(variant ? { variant } : {}) };
  }
  if (flags.username !== undefined) {
    const password = flags.passwordStdin
      ? readFileSync(0, 'utf8').replace(/\r?\n$/u, '')
      : process.env['TRIDENT_REGISTRY_PASSWORD'];
    if (password === undefined) {
      throw new CliError(
        'CLI_MISSING_PASSWORD',
        '--username needs a password: pipe it with --password-stdin or set TRIDENT_REGISTRY_PASSWORD',
      );
    }
    options['credentials'] = { username: flags.username, password };
  }
  return options;
}
