/** `-s/--server` URIs: `unix:///path` (Trident's form), `unix:/path`, `unix:path`, or `http://host:port`. */
import { connect } from 'node:net';
import type { Transport } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { DaemonError } from '../errors.ts';

export const DEFAULT_SERVER_URI = 'unix:///run/trident/trident.sock';

export type ServerAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; url: string };

export function parseServerAddress(uri: string): ServerAddress {
  if (uri.startsWith('unix://')) {
    const path = uri.slice('unix://'.length);
    if (path.startsWith('/')) return { kind: 'unix', path };
  } else if (uri.startsWith('unix:')) {
    const path = uri.slice('unix:'.length);
    if (path !== '') return { kind: 'unix', path };
  } else if (/^https?:\/\/[^/]+\/?$/.test(uri)) {
    if (uri.startsWith('https:'))
      throw new DaemonError(
        'DAEMON_CLIENT_USAGE',
        `--server ${uri}: tridentd speaks cleartext HTTP/2 only; use http:// or unix://.`,
      );
    return { kind: 'tcp', url: uri.replace(/\/$/, '') };
  }
  throw new DaemonError(
    'DAEMON_CLIENT_USAGE',
    `--server '${uri}' is not unix:///absolute/path or http://host:port.`,
  );
}

/** A gRPC (HTTP/2 cleartext) transport; unix sockets go through a custom connection. */
export function createTransport(address: ServerAddress): Transport {
  if (address.kind === 'tcp') return createGrpcTransport({ baseUrl: address.url });
  return createGrpcTransport({
    // The authority is only a header here; the bytes go to the socket below.
    baseUrl: 'http://localhost',
    nodeOptions: { createConnection: () => connect({ path: address.path }) },
  });
}
