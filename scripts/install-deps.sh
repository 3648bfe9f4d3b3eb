#!/usr/bin/env bash
# Install what glue needs to build and test, from Debian's packages.
# Does nothing when everything is already installed.
set -euo pipefail

packages=(
	gcc meson ninja-build pkg-config
	linux-libc-dev libcriterion-dev
	libslirp-dev libglib2.0-dev # user-mode networking (lib/net/user.c); slirp.pc needs glib
	zlib1g-dev liblzma-dev liblz4-dev libzstd-dev libbz2-dev
	python3 python3-pytest
	abigail-tools # ABI check (tests/abi)
	# test guest images (bzImage payloads in every format), initramfs, peers
	gzip bzip2 xz-utils lz4 zstd cpio busybox-static time
	qemu-system-x86
	acpica-tools # iasl/acpiexec check the ACPI tables (tests/unit/test_acpi.c)
	clang # the fuzz targets (libFuzzer: tests/fuzz)
	e2fsprogs # mkfs.ext4 -d, e2fsck, debugfs: disk images for the Linux-guest tests
	# the test host (testhost/): Debian's kernel package is unpacked with
	# dpkg-deb and its modules resolved with kmod; setpriv (util-linux) runs
	# commands as the caller; pgrep (procps) in its own tests
	kmod util-linux procps
	iproute2 # tap, bridge and veth for the virtio-net tests
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "glue: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
