/** The systemd units agree with the daemon's defaults (socket path, mode, single fd). */
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { DEFAULT_SOCKET_PATH } from './options.ts';

const read = (name: string) =>
  readFileSync(new URL(`../../../packaging/systemd/${name}`, import.meta.url), 'utf8');

test('tridentd.socket: one stream socket at the default path, 0600 root:root, no Accept', () => {
  const unit = read('tridentd.socket');
  expect(unit.match(/^ListenStream=.*$/gm)).toEqual([`ListenStream=${DEFAULT_SOCKET_PATH}`]);
  expect(unit).toMatch(/^SocketMode=0600$/m);
  expect(unit).toMatch(/^SocketUser=root$/m);
  expect(unit).toMatch(/^Accept=no$/m);
  expect(unit).toMatch(/^WantedBy=sockets.target$/m);
});

test('tridentd.service: runs tridentd, requires the socket', () => {
  const unit = read('tridentd.service');
  expect(unit).toMatch(/^ExecStart=\/usr\/bin\/tridentd\b/m);
  expect(unit).toMatch(/^Requires=tridentd.socket$/m);
});
