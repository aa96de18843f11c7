// The remote-source flags as the command line gives them, collected without loading
// @trident/remote-source: every command starts through here, and most never reach a remote source.

/** Flags that shape how remote COSI sources (HTTP and OCI) are reached. */
export interface SourceFlags {
  caFile?: string | undefined;
  header?: string[] | undefined;
  plainHttp?: boolean | undefined;
  platform?: string | undefined;
  username?: string | undefined;
  passwordStdin?: boolean | undefined;
  /** `--min-throughput SIZE[/s]`: below it, averaged over the window, a transfer counts as stalled. */
  minThroughput?: string | undefined;
  /** `--throughput-window DURATION`: what the minimum throughput is averaged over. */
  throughputWindow?: string | undefined;
  /** `--timeout DURATION`: overall deadline of one source (`0` or `none`: no deadline). */
  timeout?: string | undefined;
}

/** The remote-source block of parsed `trident` flags (see cli-options.ts). */
export function sourceFlags(values: {
  'ca-file'?: string | undefined;
  header?: string[] | undefined;
  'plain-http'?: boolean | undefined;
  platform?: string | undefined;
  username?: string | undefined;
  'password-stdin'?: boolean | undefined;
  'min-throughput'?: string | undefined;
  'throughput-window'?: string | undefined;
  timeout?: string | undefined;
}): SourceFlags {
  return {
    caFile: values['ca-file'],
    header: values.header,
    plainHttp: values['plain-http'],
    platform: values.platform,
    username: values.username,
    passwordStdin: values['password-stdin'],
    minThroughput: values['min-throughput'],
    throughputWindow: values['throughput-window'],
    timeout: values.timeout,
  };
}
