#!/usr/bin/env bash
# Runs every benchmark side by side and writes BENCHMARKS.md at the repository root.
# Installs nginx, wrk and valgrind (Debian packages) if they are missing, builds everything in release,
# then runs bench/src/bin/runner. Takes about 15 minutes on 2 cores.
#   BENCH_ONLY=idle,drain,connections,throughput,instructions,resets,upgrade,spawn,fanout,compile,rolling,rss  run a subset (written
#                                                    to bench/target/BENCHMARKS.partial.md)
#   BENCH_QUICK=1                                            fewer runs, for a smoke test
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"

need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
command -v valgrind >/dev/null || need+=(valgrind)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "building (release)"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p lifecycle-examples --bin http_server
cargo build --release --quiet --manifest-path "$here/Cargo.toml" --bins --examples

HTTP_SERVER_BIN="$repo/target/release/http_server" "$here/target/release/runner"
