# SPDX-License-Identifier: MIT
"""The stock kernel with a busybox initramfs, booted to a shell on the serial
console. Only where KVM is hardware-backed: under an emulated KVM (PVM) an
ordinary kernel takes tens of minutes to reach userspace."""

import re

import pytest

import stockkernel

pytestmark = [pytest.mark.hwkvm, pytest.mark.slow]

MiB = 1 << 20


@pytest.fixture(scope="module")
def hw(host_kind):
    if host_kind != "hardware":
        pytest.skip("KVM here is not hardware-backed (emulated, e.g. PVM): a stock kernel cannot "
                    "reach userspace in reasonable time")


@pytest.fixture(scope="module")
def vmlinuz(hw):
    try:
        return stockkernel.vmlinuz()
    except stockkernel.Unavailable as e:
        pytest.skip(f"no stock kernel: {e}")


@pytest.fixture(scope="module")
def initramfs(hw, tmp_path_factory):
    try:
        data = stockkernel.busybox_initramfs()
    except stockkernel.Unavailable as e:
        pytest.skip(str(e))
    p = tmp_path_factory.mktemp("initramfs") / "initramfs.cpio"
    p.write_bytes(data)
    return p


def shell(v, cmd, pattern, timeout=20):
    """Type a command at the guest's shell; return the match of pattern in
    what follows (the typed command is echoed, so patterns must not match it)."""
    v.send(cmd + "\n")
    return v.expect(pattern, timeout)


@pytest.mark.parametrize("boot", ["auto", "bzimage"])
def test_busybox_shell(vm, vmlinuz, initramfs, boot):
    v = vm(vmlinuz, "-i", initramfs, "--boot", boot, mem="512M", cpus=2,
           params="panic=-1 rdinit=/init", default_params=True)
    v.expect(r"Linux version ", 60)
    v.expect(r"^GLUE-INIT-42\r?$", 120)
    v.expect(r"[#$] $", 30, partial=True)
    shell(v, "echo MARK$((6*7))", r"^MARK42\r?$")
    n = shell(v, "grep -c ^processor /proc/cpuinfo", r"^(\d+)\r?$").group(1)
    assert int(n) == 2, v.report()
    kb = int(shell(v, "grep MemTotal /proc/meminfo", r"MemTotal:\s+(\d+) kB").group(1))
    assert 400 * 1024 <= kb <= 512 * 1024, f"MemTotal {kb} kB with -m 512M\n{v.report()}"
    cmdline = shell(v, "cat /proc/cmdline", r"^(panic=-1 .*?)\r?$").group(1)
    assert cmdline == "panic=-1 rdinit=/init console=ttyS0 reboot=k i8042.noaux i8042.nopnp"
    v.send("reboot -f\n")
    assert v.wait_exit(60) == 0, v.report()
