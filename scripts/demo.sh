#!/usr/bin/env bash
# Set everything up and boot a demo VM: glue's own test guest, two vCPUs,
# which reports what it finds (boot path, memory map, CPUs, clock) on the
# serial console and resets. Runs in seconds even where KVM has to emulate.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build
exec build/cli/glue run -k build/tests/guest/glue-test-guest.bzImage -c 2 -m 256 \
	-p "glue.test=boot,mem,smp,rtc" "$@"
