#!/bin/sh
//bin/true; V8="--max-semi-space-size=1 --no-opt --no-maglev --wasm-tiering-budget=2147483647"; export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-1}" MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-131072}"; self="$(readlink -f -- "$0")"; elf="$(printf '\177ELF')"
//bin/true; run() { [ -n "$1" ] && [ -x "$1" ] && { [ "$1" = "$TRIDENT_NODE" ] || [ "$(head -c 4 -- "$1" 2>/dev/null)" = "$elf" ]; } && exec "$@"; }
//bin/true; run "$TRIDENT_NODE" $V8 "$self" "$@"; d="${self%/*}"; while [ -n "$d" ]; do run "$d/node_modules/node/bin/node" $V8 "$self" "$@"; d="${d%/*}"; done
//bin/true; IFS=:; for d in $PATH; do IFS=" "; run "$d/node" $V8 "$self" "$@"; done
//bin/true; echo "tridentd: no Node.js binary found; set TRIDENT_NODE to one (a binary, not a shell wrapper)" >&2; exit 3

// The lines above are a POSIX sh launcher (each one a JS comment): it execs a real Node binary —
// $TRIDENT_NODE, the `node` npm package's binary in a node_modules above this file, or the first
// `node` on PATH that is a binary — never a shell wrapper such as node_modules/.bin/node, which
// would stay in between and not pass SIGTERM on (systemd stops the daemon with it). The process
// systemd starts, and whose LISTEN_PID must match, is Node itself.
// Then the daemon: compiled, or the sources under --conditions=@trident/source.
// The Node flags and malloc settings on the first line are the CLI's, for the same reasons (the
// daemon runs the same pipeline): each is explained, with what it saved, in apps/cli/bin/trident.js.
import { runDaemonCli } from '@trident/daemon';

process.exit(await runDaemonCli(process.argv.slice(2)));
