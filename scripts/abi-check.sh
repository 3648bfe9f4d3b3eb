#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Check that libglue's ABI has not changed incompatibly since the baseline in
# abi/, using Debian's abigail-tools (abidw, abidiff).
#
#   scripts/abi-check.sh BUILD_DIR           compare BUILD_DIR/libglue.so
#   scripts/abi-check.sh --update BUILD_DIR  (re)write the baseline from it
#
# Exit status: 0 compatible (additions are fine), 1 incompatible change,
# 77 skipped (tools missing, reduced or debug-info-less build, soversion
# differs from the baseline's), 99 the check itself could not run.
# See abi/README.md.
set -uo pipefail

usage() {
	echo "usage: $0 [--update] BUILD_DIR" >&2
	exit 99
}

update=0
case "${1:-}" in
--update) update=1; shift ;;
-h|--help) sed -n '4,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
[ $# -eq 1 ] || usage
build=$1
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
abidir=$src/abi

skip() {
	if [ "$update" = 1 ]; then
		echo "abi-check: cannot write a baseline: $*" >&2
		exit 1
	fi
	echo "abi-check: SKIP: $*"
	exit 77
}
die() {
	echo "abi-check: ERROR: $*" >&2
	exit 99
}

for tool in abidw abidiff; do
	command -v "$tool" >/dev/null ||
		skip "$tool not installed (apt-get install abigail-tools)"
done

lib=$build/libglue.so
[ -e "$lib" ] || die "no $lib: build the library first (ninja -C $build)"
config=$build/include/glue/config.h
[ -r "$config" ] || die "no $config: is $build a glue build directory?"

# The baseline describes the full library. Switching a component off removes
# its functions, which would read as an incompatible change; the host
# decompressors only change what the loader accepts, not the API.
reduced=$(sed -n 's/^#define GLUE_HAVE_\([A-Z0-9_]*\) 0$/\1/p' "$config" |
	grep -vxE 'GZIP|XZ|LZ4|ZSTD|BZIP2' | tr 'A-Z\n' 'a-z ')
[ -z "$reduced" ] ||
	skip "build leaves out components (${reduced% }): the baseline is of the full library"

tmp=$(mktemp -d) || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

# Only the public headers count: types defined elsewhere (the opaque
# structs' insides) are dropped, and so are non-exported functions. No
# paths or source locations, and type ids hashed from the types rather than
# numbered, so the output is the same from any build directory or machine
# and the baseline's diff shows only ABI changes.
if ! abidw --headers-dir "$src/include/glue" --drop-private-types \
	--exported-interfaces-only --no-elf-needed --no-corpus-path \
	--no-comp-dir-path --no-show-locs --type-id-style hash \
	--out-file "$tmp/new.abi" "$lib" 2>"$tmp/abidw.err"; then
	cat "$tmp/abidw.err" >&2
	die "abidw failed on $lib"
fi

# Without DWARF abidw sees only symbol names and abidiff would miss every
# type change, so a pass would mean nothing.
grep -q '<abi-instr' "$tmp/new.abi" ||
	skip "$lib has no debug info (buildtype=release or -g0?): abidw needs DWARF"

soname=$(sed -n "1s/.* soname='\([^']*\)'.*/\1/p" "$tmp/new.abi")
[ -n "$soname" ] || die "$lib has no SONAME"
baseline=$abidir/$soname.abi

if [ "$update" = 1 ]; then
	if ! mkdir -p "$abidir" || ! cp "$tmp/new.abi" "$baseline"; then
		die "cannot write $baseline"
	fi
	echo "abi-check: wrote ${baseline#"$src"/}"
	for old in "$abidir"/libglue.so.*.abi; do
		[ "$old" = "$baseline" ] || [ ! -e "$old" ] ||
			echo "abi-check: note: ${old#"$src"/} is an older soversion's baseline; remove it"
	done
	exit 0
fi

if [ ! -e "$baseline" ]; then
	others=
	for old in "$abidir"/libglue.so.*.abi; do
		[ -e "$old" ] && others+=" $(basename "$old" .abi)"
	done
	[ -n "$others" ] &&
		skip "the build's soname is $soname but the baseline is of${others}:" \
			"a deliberate ABI bump needs a new baseline: $0 --update $build"
	skip "no baseline ${baseline#"$src"/}: create it with $0 --update $build"
fi

# An optional suppression file lets deliberate, reviewed exceptions through
# (e.g. fields appended to a size-versioned struct); see abi/README.md.
suppr=()
[ -e "$abidir/libglue.abignore" ] && suppr=(--suppressions "$abidir/libglue.abignore")
abidiff "${suppr[@]}" "$baseline" "$tmp/new.abi" >"$tmp/report" 2>&1
rc=$?
# abidiff's status is a bit field: 1 error, 2 usage error, 4 ABI changed,
# 8 incompatible change. abidiff sets 8 only for removed symbols (and
# SONAME/architecture changes), not for a changed function or a changed
# public struct layout, which break callers just as surely; so anything
# removed or changed counts, and only additions pass.
if [ $((rc & 3)) -ne 0 ]; then
	cat "$tmp/report"
	die "abidiff failed (status $rc)"
fi
if [ $((rc & 8)) -ne 0 ] ||
	grep -qE 'summary:.*\b[1-9][0-9]* (Removed|Changed)' "$tmp/report"; then
	cat "$tmp/report"
	echo "abi-check: FAIL: libglue's ABI changed incompatibly since ${baseline#"$src"/} (report above)."
	echo "abi-check: Undo the change, or if it is deliberate, bump glue_soversion in meson.build"
	echo "abi-check: and write a new baseline: $0 --update BUILD_DIR. If you have checked"
	echo "abi-check: that it cannot break a caller, refresh the baseline without a bump and say"
	echo "abi-check: why in the commit message (see abi/README.md)."
	exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
	cat "$tmp/report"
	echo "abi-check: OK: compatible additions only (report above). Record them in the"
	echo "abi-check: baseline with: $0 --update $build"
	exit 0
fi
note=
[ ${#suppr[@]} -eq 0 ] || note=" (with the exceptions in abi/libglue.abignore)"
echo "abi-check: OK: no ABI change since ${baseline#"$src"/}$note"
exit 0
