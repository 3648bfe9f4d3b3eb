#!/usr/bin/env bash
# Set everything up and boot two demo VMs:
#  1. glue's own test guest, two vCPUs, which reports what it finds (boot
#     path, memory map, CPUs, clock) on the serial console and resets;
#  2. Debian's stock kernel with a small busybox initramfs, to a shell: on
#     a terminal it is yours (Ctrl-a x or `poweroff` leaves); otherwise it
#     runs a few commands (uname -a, CPUs, memory) and powers off.
# Where KVM does not work natively, both run inside the test host
# (scripts/testhost), which this says in one line.
set -euo pipefail
cd "$(dirname "$0")/.."

demo_vms() {
	build/cli/glue run -k build/tests/guest/glue-test-guest.bzImage -c 2 -m 256 \
		-p "glue.test=boot,mem,smp,rtc" "$@"
	echo
	local mode=script
	[ -t 0 ] && [ -t 1 ] && mode=shell
	if [ $mode = shell ]; then
		echo "glue: booting Debian's kernel to a shell: Ctrl-a x or 'poweroff' leaves" >&2
	else
		echo "glue: booting Debian's kernel; it runs a few commands and powers off" >&2
	fi
	build/cli/glue run -k "$(cat build/demo/kernel)" -i "build/demo/initramfs-$mode.cpio" \
		-c 2 -m 512 -p "quiet panic=-1"
}

if [ "${1:-}" = --inside ]; then
	shift
	demo_vms "$@"
	exit
fi

scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build

# Debian's kernel and the two initramfs images (fetched and cached once).
mkdir -p build/demo
python3 - <<'PY'
import sys
sys.path.insert(0, "tests/integration")
import stockkernel
script = """echo '$ uname -a'; uname -a
echo '$ grep -c ^processor /proc/cpuinfo'; grep -c ^processor /proc/cpuinfo
echo '$ grep MemTotal /proc/meminfo'; grep MemTotal /proc/meminfo
echo '$ poweroff'; poweroff"""
try:
    open("build/demo/kernel", "w").write(str(stockkernel.vmlinux()) + "\n")
    open("build/demo/initramfs-shell.cpio", "wb").write(stockkernel.busybox_initramfs())
    open("build/demo/initramfs-script.cpio", "wb").write(
        stockkernel.busybox_initramfs(rc_local=script))
except stockkernel.Unavailable as e:
    sys.exit(f"glue: cannot set up the Linux demo: {e}")
PY

if reason=$(python3 testhost/testhost.py want); then
	echo "glue: $reason: running the demo inside the test host (QEMU's software CPU with nested SVM; seconds to start)" >&2
	exec scripts/testhost run -- "$0" --inside "$@"
fi
demo_vms "$@"
