#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each), starting
# from the committed seeds. Needs cargo-fuzz (`cargo install cargo-fuzz`);
# stable Rust works with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z flags).
# A crash stops the script and leaves its input under fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"
export RUSTC_BOOTSTRAP=1
for target in frontend startup classify; do
  mkdir -p "corpus/$target"
  echo "fuzz: $target for ${seconds}s"
  cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048
done
