# SPDX-License-Identifier: MIT
"""Debian's unmodified cloud kernel booted by glue, judged by its own output.

On an emulated host (PVM) the kernel prints its banner after ~13 s and its
`Memory:` line after ~36 s, then stops at the int3 self-test; so each test
waits for what it needs and stops the VM with SIGTERM."""

import os
import re
import signal

import pytest

import stockkernel

pytestmark = [pytest.mark.stock, pytest.mark.slow]

MiB = 1 << 20
GiB = 1 << 30
EARLY = "earlyprintk=serial,ttyS0,115200"


@pytest.fixture(scope="module")
def vmlinuz():
    try:
        return stockkernel.vmlinuz()
    except stockkernel.Unavailable as e:
        pytest.skip(f"no stock kernel: {e}")


@pytest.fixture(scope="module")
def vmlinux(vmlinuz):
    try:
        return stockkernel.vmlinux()
    except stockkernel.Unavailable as e:
        pytest.skip(f"cannot unpack the stock kernel: {e}")


def _cut(ram, lo, hi):
    out = []
    for a, b in ram:
        if b <= lo or a >= hi:
            out.append((a, b))
            continue
        if a < lo:
            out.append((a, lo))
        if b > hi:
            out.append((hi, b))
    return out


def kernel_e820_ram(log):
    """The usable RAM ranges [(start, end_exclusive)] the kernel keeps from the
    BIOS-e820 map glue gave it: x86's trim_bios_range() always turns page 0
    into reserved and drops usable RAM in the legacy 640K-1M hole (it logs
    that only at debug level); any 'e820: update/remove ... usable' edits it
    does print (MTRR trimming...) are applied too."""
    ram = []
    for m in re.finditer(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] (\S+)", log):
        if m.group(3) == "usable":
            ram.append((int(m.group(1), 16), int(m.group(2), 16) + 1))
    ram = _cut(_cut(ram, 0, 0x1000), 0xA0000, 0x100000)
    for m in re.finditer(r"e820: (update|remove) \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] usable", log):
        ram = _cut(ram, int(m.group(2), 16), int(m.group(3), 16) + 1)
    return ram


def node_ranges(log):
    """The kernel's 'Early memory node ranges' (its memblock.memory)."""
    return [(int(m.group(1), 16), int(m.group(2), 16) + 1) for m in
            re.finditer(r"node +\d+: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]", log)]


def bios_e820_usable(log):
    return sum(int(m.group(2), 16) + 1 - int(m.group(1), 16) for m in
               re.finditer(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] usable", log))


def check_memory_line(v, mem_bytes):
    """`Memory: A K/T K available`: T is the kernel's physpages in KiB, i.e.
    the whole pages inside its usable e820 ranges (after it drops page 0 and
    640K-1M). The BIOS map glue gave must add up to exactly -m."""
    m = v.expect(r"Memory: (\d+)K/(\d+)K available", 120)
    avail, total = int(m.group(1)), int(m.group(2))
    log = v.log
    assert bios_e820_usable(log) == mem_bytes, \
        f"glue's e820 has {bios_e820_usable(log)} usable bytes, -m is {mem_bytes}\n{v.report()}"
    pages = sum(max(0, (b >> 12) - ((a + 4095) >> 12)) for a, b in kernel_e820_ram(log))
    assert total == pages * 4, \
        f"Memory: total {total}K, glue's e820 less page 0 and 640K-1M is {pages * 4}K\n{v.report()}"
    nodes = node_ranges(log)
    if nodes:
        assert total == sum((b - a) >> 12 for a, b in nodes) * 4, f"node ranges {nodes}"
    # What the kernel gives up is page 0 and the legacy 640K-1M hole, nothing more.
    assert mem_bytes // 1024 - 388 <= total <= mem_bytes // 1024, (total, mem_bytes)
    assert 0 < avail < total
    return total


def check_cpus(v, n):
    log = v.log
    m = re.search(r"smpboot: Allowing (\d+) CPUs, (\d+) hotplug CPUs", log)
    hint = ""
    if "not listed by BIOS" in log:
        hint = ("\nThe kernel found no CPU list: Debian's cloud kernel is built without "
                "CONFIG_X86_MPPARSE, so it reads CPUs only from ACPI (MADT), not the MP table.")
    assert m and int(m.group(1)) == n and int(m.group(2)) == 0, \
        f"expected 'smpboot: Allowing {n} CPUs, 0 hotplug CPUs'{hint}\n{v.report()}"
    procs = re.findall(r"^\[[ \d.]+\] Processor #(\d+)", log, re.M)
    if procs or re.search(r"MPTABLE|MultiProcessor Specification", log):
        assert sorted(map(int, procs)) == list(range(n)), \
            f"MP table processors {procs}, expected APIC IDs 0..{n - 1}\n{v.report()}"


@pytest.fixture(scope="module")
def cpu_args(host_kind):
    """On an emulated KVM the kernel stops with an emulation failure on the
    first cmpxchg16b, right after its Memory: line; hiding CX16 (which PVM
    does enforce) lets it run on for several seconds more, so that the test
    stops a live VM rather than racing its crash."""
    return ["--cpu", "host,-cx16"] if host_kind == "emulated" else []


def boot_and_check(vm, kernel, boot, mem, cpus, extra_args=()):
    params = f"{EARLY} glue.stock=boot-{boot}"
    v = vm(kernel, "--boot", boot, *extra_args, verbose=True, mem=mem, cpus=cpus,
           params=params, default_params=True)
    try:
        v.expect(r"Linux version \d+\.\d+\.\d+\S* ", 60)
        sent = re.search(r"^glue: kernel command line: (.*)$", v.stderr, re.M)
        assert sent, f"-v did not print the command line\n{v.report()}"
        assert sent.group(1) == params + " console=ttyS0 reboot=k i8042.noaux i8042.nopnp"
        got = v.expect(r"Command line: (.*?)\r?$", 30).group(1)
        assert got == sent.group(1), f"kernel got {got!r}, glue passed {sent.group(1)!r}"
        mem_bytes = int(mem[:-1]) * (GiB if mem.endswith("G") else MiB)
        check_memory_line(v, mem_bytes)
        check_cpus(v, cpus)
    finally:
        v.signal(signal.SIGTERM)
    rc = v.wait_exit(30)
    assert rc == 0, f"SIGTERM should stop the VM cleanly (status 0), got {rc}\n{v.report()}"
    return v


def test_stock_unpack(vm, vmlinuz, cpu_args):
    v = boot_and_check(vm, vmlinuz, "unpack", "512M", 2, cpu_args)
    assert re.search(r"unpack", v.stderr, re.I) and re.search(r"lz4|gzip|xz|zstd|bzip2|lzma",
                                                                  v.stderr, re.I), v.report()


def test_stock_pvh(vm, vmlinux, cpu_args):
    if not stockkernel.elf_has_pvh_note(vmlinux.read_bytes()):
        pytest.skip("this kernel was built without CONFIG_PVH")
    boot_and_check(vm, vmlinux, "pvh", "1G", 1, cpu_args)


def test_stock_bzimage_entry(vm, vmlinuz, cpu_args, host_kind):
    """The kernel's own decompressor: seconds with hardware KVM (the test
    host's included), minutes under PVM's emulator (then only with
    GLUE_TEST_VERYSLOW=1)."""
    if host_kind == "emulated" and os.environ.get("GLUE_TEST_VERYSLOW", "") in ("", "0"):
        pytest.skip("takes minutes under an emulated KVM; set GLUE_TEST_VERYSLOW=1 to run it")
    v = vm(vmlinuz, "--boot", "bzimage", *cpu_args, mem="512M", cpus=1, params=EARLY, default_params=True)
    try:
        v.expect(r"Linux version \d+\.\d+\.\d+", 900)
        v.expect(r"Command line: .*glue|Command line: " + re.escape(EARLY), 120)
    finally:
        v.signal(signal.SIGTERM)
    assert v.wait_exit(30) == 0, v.report()
