#!/usr/bin/env bash
# Set everything up and run every test, in a normal and an ASan+UBSan build:
# unit (Criterion), guest image, ABI, build and integration (pytest) suites.
#
# Where KVM works natively, everything runs here. Where it does not (no
# /dev/kvm, or PVM's emulator), the suites that need KVM (meson suite 'kvm':
# the integration suite, the examples, the machine-level unit tests) run
# inside the test host (scripts/testhost: Debian's kernel under QEMU's
# software CPU, with nested SVM), and the rest here. GLUE_TESTHOST=auto
# (default), always or never overrides the choice.
#
# Ends with one line counting every test case, wherever it ran:
#   tests: N passed, N failed, N skipped
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

builds=(build build-asan)
declare -A options=([build]="" [build-asan]="-Db_sanitize=address,undefined -Db_lundef=false")

if decision=$(python3 testhost/testhost.py want); then
	testhost=1
	echo "glue: $decision: the KVM suites run inside the test host (scripts/testhost)" >&2
	# Everything the test host needs comes from the network: fetch it here.
	scripts/testhost image >/dev/null
else
	testhost=0
	echo "glue: $decision: every suite runs natively" >&2
fi
# Debian's stock kernel for the Linux-guest tests (and the loader's unit
# test, which reads $GLUE_TEST_VMLINUZ): fetched once, cached.
python3 tests/integration/stockkernel.py >/dev/null
GLUE_TEST_VMLINUZ=$(python3 testhost/images.py kernel)
export GLUE_TEST_VMLINUZ

status=0
for b in "${builds[@]}"; do
	# shellcheck disable=SC2086
	[ -f "$b/build.ninja" ] || meson setup "$b" ${options[$b]}
	ninja -C "$b"
	# Results of an earlier run must not be counted again.
	rm -f "$b"/meson-logs/testlog-*.json "$b"/tests/unit/test_*.json "$b"/tests/*/pytest-*.xml
done

mtest() { # build logbase [meson test args...]
	local b=$1 base=$2
	shift 2
	meson test -C "$b" --no-rebuild --print-errorlogs --logbase "$base" "$@"
}

for b in "${builds[@]}"; do
	if [ $testhost = 1 ]; then
		mtest "$b" testlog-native --no-suite kvm --num-processes 2 || status=1
	else
		mtest "$b" testlog-native --num-processes 2 || status=1
	fi
done

# The fuzz targets (clang, libFuzzer, ASan+UBSan), a bounded run each from
# the corpus in the repository (new inputs go to build-fuzz/, not the repo).
# Every build above also replays that corpus as a unit test (suite fuzz).
fuzz_seconds=${GLUE_FUZZ_SECONDS:-60}
[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true \
	-Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-Wno-gnu-variable-sized-type-not-at-end >/dev/null
for t in $(cd tests/fuzz/corpus && ls); do
	ninja -C build-fuzz "tests/fuzz/fuzz_$t" >/dev/null || { status=1; continue; }
	mkdir -p "build-fuzz/corpus-$t"
	if build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$fuzz_seconds" -print_final_stats=1 \
		"build-fuzz/corpus-$t" "tests/fuzz/corpus/$t" >"build-fuzz/fuzz-$t.log" 2>&1; then
		echo "fuzz: $t: $(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/fuzz-$t.log") runs in ${fuzz_seconds} s, no finding"
	else
		tail -40 "build-fuzz/fuzz-$t.log"
		echo "fuzz: $t: FINDING (build-fuzz/fuzz-$t.log; the input is in the current directory)" >&2
		status=1
	fi
done

if [ $testhost = 1 ]; then
	# One test host per build, side by side: each is one single-threaded
	# QEMU, one core each. A test host that fails itself (exit 125: did not
	# boot, froze) is reported as such; its tests count as not run.
	pids=()
	for b in "${builds[@]}"; do
		scripts/testhost run --timeout 3000 -- \
			meson test -C "$b" --no-rebuild --print-errorlogs --logbase testlog-testhost --suite kvm \
			>"$b/meson-test-testhost.out" 2>&1 &
		pids+=($!)
	done
	for i in "${!builds[@]}"; do
		b=${builds[$i]}
		rc=0
		wait "${pids[$i]}" || rc=$?
		cat "$b/meson-test-testhost.out"
		case $rc in
		0) ;;
		124) echo "glue: $b: the test host ran past its timeout" >&2; status=1 ;;
		125) echo "glue: $b: the test host itself failed (see above); its KVM suites did not complete" >&2; status=1 ;;
		*) status=1 ;;
		esac
	done
fi

scripts/count-tests.py "${builds[@]}" || status=1
exit $status
