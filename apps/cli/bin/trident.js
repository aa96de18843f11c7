#!/bin/sh
//bin/true; V8="--max-semi-space-size=1 --no-opt --no-maglev"; export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-1}" MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-65536}"; self="$(readlink -f -- "$0")"; elf="$(printf '\177ELF')"
//bin/true; run() { [ -n "$1" ] && [ -x "$1" ] && { [ "$1" = "$TRIDENT_NODE" ] || [ "$(head -c 4 -- "$1" 2>/dev/null)" = "$elf" ]; } && exec "$@"; }
//bin/true; run "$TRIDENT_NODE" $V8 "$self" "$@"; d="${self%/*}"; while [ -n "$d" ]; do run "$d/node_modules/node/bin/node" $V8 "$self" "$@"; d="${d%/*}"; done
//bin/true; IFS=:; for d in $PATH; do IFS=" "; run "$d/node" $V8 "$self" "$@"; done
//bin/true; echo "trident: no Node.js binary found; set TRIDENT_NODE to one (a binary, not a shell wrapper)" >&2; exit 3

// The lines above are a POSIX sh launcher (each one a JS comment): it execs a real Node binary —
// $TRIDENT_NODE, the `node` npm package's binary in a node_modules above this file, or the first
// `node` on PATH that is a binary — never a shell wrapper such as node_modules/.bin/node, which
// would stay in between and not pass SIGINT/SIGTERM on. The process started is Node itself.
// Then the CLI: its bundle (`bundle/`, made by `pnpm build`: scripts/bundle.ts says why), or the
// sources under --conditions=@trident/source (`pnpm trident`).
// `--max-semi-space-size=1` (MiB) keeps V8's young generation small: Node 24 grows it to 32 MiB
// under the streaming hot path's allocation rate, which was 25-30 MiB of a stream-disk's peak RSS;
// the extra scavenges cost ~70 ms over a 1 GiB disk (`pnpm bench:memory`, issue 14).
// `MALLOC_ARENA_MAX=1` (unless set): one glibc arena for every thread; the per-thread arenas of
// V8's and the addon's threads held ~10 MiB they had freed (RssAnon 48 -> 37-42 MiB, same CPU time).
// `MALLOC_MMAP_THRESHOLD_=65536` (unless set): libuv reads each socket into a fresh 64 KiB buffer
// that Node shrinks to what arrived and the addon frees once copied; inside the heap those left
// 6-10 MiB free but resident (glibc raises its threshold to 128 KiB and more as it goes, so they
// never reached mmap). At 64 KiB they are mapped and returned on free: peak RSS -4 to -6 MiB, same
// CPU time; 32 KiB cost 15 % more CPU.
// `--no-opt --no-maglev`: V8's optimizing compilers never pay back here, where the bytes go through
// the native addon and the JavaScript only steers; without them the binary's compiler code and
// their compile memory stay out of RSS (-5 to -6 MiB of peak RSS, same wall and CPU time on the
// 1 GiB bench disk; `pnpm bench:memory`).
import '@trident/cli/launch';
