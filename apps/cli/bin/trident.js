#!/bin/sh
//bin/true; V8="--max-semi-space-size=1 --no-opt --no-maglev --wasm-tiering-budget=2147483647"; export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-1}" MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-131072}"; self="$(readlink -f -- "$0")"; elf="$(printf '\177ELF')"
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
// `MALLOC_MMAP_THRESHOLD_=131072` (unless set): a fixed threshold. glibc's own grows with every
// mapped chunk freed (up to 32 MiB), after which large transient buffers stay in the heap. 64 KiB
// (the previous setting) made every full 64 KiB socket read a fresh mapping: 3x the page faults and
// +10-20 % wall time once undici's parser stays on Liftoff (below); 128 KiB measured 0.5 MiB under
// glibc's default.
// `--no-opt --no-maglev`: V8's optimizing compilers never pay back here, where the bytes go through
// the native addon and the JavaScript only steers; without them the binary's compiler code and
// their compile memory stay out of RSS (-5 to -6 MiB of peak RSS, same wall and CPU time on the
// 1 GiB bench disk; `pnpm bench:memory`).
// `--wasm-tiering-budget=2147483647`: the only WebAssembly here is undici's HTTP parser (llhttp),
// and a body is handed over a chunk at a time, not parsed byte by byte, so Liftoff's baseline code
// is enough. Tiering it up to TurboFan compiled its state machine on a background thread early in
// every download: a 20 MiB transient (the start-up peak of `trident install`) and 3 MiB left
// behind. Without it: -2 to -6 MiB of peak RSS and steadier (87 MiB +-0.5 rather than 89-94 for a
// stream-disk), equal wall and CPU time, at loopback speed and at 30 MB/s (issue 14).
import '@trident/cli/launch';
