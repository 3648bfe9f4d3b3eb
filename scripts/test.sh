#!/usr/bin/env bash
# Set everything up and run every test: unit (Criterion) and integration
# (pytest) suites in a normal build, then again under ASan+UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

status=0
run() {
	local dir=$1
	shift
	[ -f "$dir/build.ninja" ] || meson setup "$dir" "$@"
	ninja -C "$dir"
	meson test -C "$dir" --print-errorlogs --num-processes 2 || status=1
}

run build
GLUE_SANITIZED=1 run build-asan -Db_sanitize=address,undefined -Db_lundef=false
exit $status
