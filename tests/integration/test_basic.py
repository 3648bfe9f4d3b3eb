# SPDX-License-Identifier: MIT
"""Kernel loading, command line, initrd, vCPUs, memory, serial console, exit
statuses and bad inputs, checked from inside the freestanding test guest."""

import os
import random
import re
import struct
from pathlib import Path

import pytest

import glueutil
from glueutil import crc32, error_lines

pytestmark = pytest.mark.basic

DEFAULT_PARAMS = "console=ttyS0 reboot=k i8042.noaux i8042.nopnp"
GiB = 1 << 30
MiB = 1 << 20

# bzImage payload compressor -> the build option (library) that unpacks it.
COMPRESSORS = {
    "gzip": "gzip",
    "bzip2": "bzip2",
    "lzma": "xz",
    "xz": "xz",
    "lz4": "lz4",
    "zstd": "zstd",
}


def guest_cmdline(v):
    """The exact bytes the guest printed on its CMDLINE line."""
    m = re.search(rb"^CMDLINE ?(.*?)\r?$", v.raw, re.M)
    assert m, f"no CMDLINE line\n{v.report()}"
    return m.group(1).decode("utf-8", "surrogateescape")


def assert_pass(tests, name, v):
    assert name in tests, f"no 'TEST {name}' line\n{v.report()}"
    assert tests[name][0] == "PASS", f"TEST {name} failed: {tests[name][2]}\n{v.report()}"
    return tests[name][1]


def assert_zero_page_protocol(tests, v):
    """Entered with the 64-bit boot protocol: the zero page carries a setup
    header ("HdrS") of boot protocol 2.15, copied from the bzImage or, for
    an ELF, made up by glue."""
    t = assert_pass(tests, "boot", v)
    assert t.get("protocol") == "2.15" and t.get("hdrs") == "1", f"TEST boot {t}\n{v.report()}"


def entry_of(v):
    m = re.search(r"^GUEST entry=(\S+)", v.log, re.M)
    assert m, f"no 'GUEST entry=' line\n{v.report()}"
    return m.group(1)


# ---------------------------------------------------------------------------
# Kernel formats and entry paths


@pytest.mark.parametrize("boot,entry,says", [
    ("pvh", "pvh", "pvh"),
    ("elf64", "linux64", "64-bit"),
    ("auto", "pvh", "pvh"),
])
def test_elf_entry(run_guest, boot, entry, says):
    v, tests, _ = run_guest("boot", "--boot", boot, verbose=True)
    assert entry_of(v) == entry, v.report()
    t = assert_pass(tests, "boot", v)
    if entry == "pvh":
        assert t.get("pvh_version") == "1", t
    else:
        assert_zero_page_protocol(tests, v)
    assert says.lower() in v.stderr.lower(), f"-v does not describe the {boot} path\n{v.report()}"


@pytest.mark.parametrize("fmt", list(COMPRESSORS))
def test_bzimage_unpack(run_guest, guest, glue, fmt):
    img = glueutil.guest_image(fmt)
    if not img.exists():
        pytest.skip(f"{img.name} not built (the guest build skips {fmt} when its tool is missing)")
    if not glueutil.have(COMPRESSORS[fmt]):
        # Built without that library: unpack must refuse clearly.
        r = glue("run", "-k", img, "--boot", "unpack", "--console", "none", "-p", "glue.test=reset")
        assert r.returncode == 1, r
        assert len(error_lines(r.stderr)) == 1, r.stderr
        return
    v, tests, _ = run_guest("boot", "--boot", "unpack", kind=fmt, verbose=True)
    assert entry_of(v) == "linux64", v.report()
    assert_zero_page_protocol(tests, v)
    err = v.stderr.lower()
    assert "unpack" in err and fmt in err, f"-v should say it unpacked a {fmt} payload\n{v.report()}"


def test_bzimage_auto_unpacks(run_guest):
    if not glueutil.have("gzip"):
        pytest.skip("built without gzip")
    v, tests, _ = run_guest("boot", kind="bzImage", verbose=True)
    assert entry_of(v) == "linux64", v.report()
    assert_pass(tests, "boot", v)
    assert "unpack" in v.stderr.lower() and "gzip" in v.stderr.lower(), v.report()


def test_bzimage_own_entry(run_guest):
    v, tests, _ = run_guest("boot", "--boot", "bzimage", kind="bzImage", verbose=True)
    assert entry_of(v) == "linux64", v.report()
    assert_zero_page_protocol(tests, v)
    # -v names the path taken (the kernel's file name has "bzImage" in it too).
    assert re.search(r"^glue: bzImage .*, own decompressor, 64-bit entry 0x", v.stderr, re.M), \
        v.report()
    assert "unpack" not in v.stderr.lower(), f"--boot bzimage must not unpack\n{v.report()}"


def test_nopayload_auto_falls_back(run_guest):
    v, tests, _ = run_guest("boot", kind="nopayload", verbose=True)
    assert entry_of(v) == "linux64", v.report()
    assert_zero_page_protocol(tests, v)
    assert re.search(r"^glue: bzImage .*, own decompressor, 64-bit entry 0x", v.stderr, re.M), \
        f"-v should say it used the bzImage entry\n{v.report()}"


def test_nopayload_unpack_fails(glue, guest):
    r = glue("run", "-k", guest("nopayload"), "--boot", "unpack", "--console", "none",
             "-p", "glue.test=reset")
    assert r.returncode == 1, r
    lines = error_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert re.search(r"payload|compress|format", lines[0], re.I), lines[0]


@pytest.mark.parametrize("boot,entry", [("pvh", "pvh"), ("elf64", "linux64")])
def test_bzimage_unpacked_elf_entries(run_guest, boot, entry):
    """pvh/elf64 on a bzImage: glue unpacks it and enters the ELF inside that way."""
    v, tests, _ = run_guest("boot", "--boot", boot, kind="bzImage", verbose=True)
    assert entry_of(v) == entry, v.report()
    assert_pass(tests, "boot", v)
    assert "unpack" in v.stderr.lower(), v.report()


def test_elf32_pvh(run_guest):
    """A PVH kernel in an ELF32 container (as `ld -m elf_i386` links one)
    boots through its note, like QEMU boots it."""
    v, tests, _ = run_guest("boot,mem", kind="elf32", verbose=True)
    assert entry_of(v) == "pvh", v.report()
    assert_pass(tests, "boot", v)
    assert_pass(tests, "mem", v)
    assert re.search(r"^glue: ELF kernel, PVH entry 0x", v.stderr, re.M), v.report()


def test_elf32_needs_pvh(glue, guest, tmp_path):
    r = glue("run", "-k", guest("elf32"), "--boot", "elf64", "--console", "none")
    _assert_clean_failure(r, tmp_path, 1, r"32-bit ELF kernel boots only through its Xen PVH")


@pytest.mark.parametrize("kind,boot", [("nopayload", "pvh"), ("nopayload", "elf64"),
                                       ("elf", "unpack"), ("elf", "bzimage")])
def test_boot_mode_mismatch(glue, guest, kind, boot):
    r = glue("run", "-k", guest(kind), "--boot", boot, "--console", "none", "-p", "glue.test=reset")
    assert r.returncode == 1, f"--boot {boot} with {kind}: {r}"
    assert len(error_lines(r.stderr)) == 1, r.stderr


# ---------------------------------------------------------------------------
# Command line

ODD = ("glue.test=boot quoted=\"a b  c\" single='x y' dollar=$HOME back=\\n semi=a;b "
       "pct=%s%n%% utf8=\u00fcn\u00efc\u00f8d\u00e9 tab=a\tb eq==x= ,comma. #hash")


@pytest.mark.parametrize("kind", ["elf", "bzImage"])
@pytest.mark.parametrize("params", [
    "glue.test=boot",
    ODD,
    "",
], ids=["plain", "odd", "empty"])
def test_cmdline_exact(run_guest, vm, guest, kind, params):
    if params == "":
        v = vm(guest(kind), params="", debug_exit=True)
        v.expect(r"^GUEST DONE", 20)
        assert v.wait_exit(20) == 0, v.report()
        tests = glueutil.parse_tests(v.log)
    else:
        v, tests, _ = run_guest(params[len("glue.test="):], kind=kind)
    assert guest_cmdline(v) == params, v.report()
    t = assert_pass(tests, "boot", v)
    raw = params.encode()
    assert int(t["cmdline_len"]) == len(raw), t
    assert int(t["cmdline_crc32"], 16) == crc32(raw), t


def test_default_params_appended(vm, guest):
    v = vm(guest("elf"), verbose=True, params="glue.test=boot", default_params=True)
    v.expect(r"^GUEST DONE", 20)
    v.wait_exit(20)
    want = "glue.test=boot " + DEFAULT_PARAMS
    assert guest_cmdline(v) == want, v.report()
    assert f"glue: kernel command line: {want}\n" in v.stderr, v.report()


def test_default_params_not_overridden(vm, guest):
    params = "glue.test=boot console=hvc0 reboot=t i8042.nopnp"
    v = vm(guest("elf"), params=params, default_params=True)
    v.expect(r"^GUEST DONE", 20)
    v.wait_exit(20)
    assert guest_cmdline(v) == params + " i8042.noaux", v.report()


def _long_cmdline(n):
    base = "glue.test=boot pad="
    return base + "".join(chr(ord("a") + i % 26) for i in range(n - len(base)))


@pytest.mark.parametrize("kind", ["elf", "bzImage"])
def test_cmdline_at_limit(run_guest, kind):
    params = _long_cmdline(2047)
    v, tests, _ = run_guest(params[len("glue.test="):], kind=kind, timeout=40)
    assert guest_cmdline(v) == params, v.report()
    t = assert_pass(tests, "boot", v)
    assert int(t["cmdline_len"]) == 2047, t
    assert int(t["cmdline_crc32"], 16) == crc32(params.encode()), t


@pytest.mark.parametrize("kind", ["elf", "bzImage"])
def test_cmdline_too_long(glue, guest, kind):
    r = glue("run", "-k", guest(kind), "--no-default-params", "--console", "none",
             "-p", _long_cmdline(2048))
    assert r.returncode in (1, 2), r
    lines = error_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert re.search(r"command line", lines[0], re.I) and "2047" in lines[0], lines[0]


# ---------------------------------------------------------------------------
# initrd


def _initrd(tmp_path, size, seed=1):
    data = random.Random(seed).randbytes(size)
    p = tmp_path / f"initrd-{size}.bin"
    p.write_bytes(data)
    return p, data


def _ram_ranges(e820):
    return [(b, b + s) for b, s, t in e820 if t == 1]


@pytest.mark.parametrize("kind,mem,limit", [
    ("elf", "512M", 0x80000000),
    ("bzImage", "512M", 0x80000000),
    # bzImage: initrd_addr_max of the guest's header, 2 GiB - 1. ELF/PVH:
    # no header to say more, glue keeps Linux's default of 2 GiB - 1 too.
    ("bzImage", "4096M", 0x80000000),
    ("elf", "5G", 0x80000000),
])
def test_initrd(run_guest, tmp_path, kind, mem, limit):
    path, data = _initrd(tmp_path, 1234567)
    v, tests, _ = run_guest("mem,initrd", "-i", path, kind=kind, mem=mem)
    t = assert_pass(tests, "initrd", v)
    addr, size = int(t["addr"], 16), int(t["size"])
    assert size == len(data), t
    assert int(t["crc32"], 16) == crc32(data), f"initrd corrupted in the guest: {t}"
    assert addr % 4096 == 0, f"initrd at {addr:#x} is not page aligned"
    ram = _ram_ranges(glueutil.parse_e820(v.log))
    assert ram, f"no E820 lines\n{v.report()}"
    assert any(lo <= addr and addr + size <= hi for lo, hi in ram), \
        f"initrd {addr:#x}+{size:#x} not inside RAM {ram}"
    # "As high as possible" below the limit: the highest page-aligned start
    # whose end still fits in RAM under the limit.
    best = max(((min(hi, limit) - size) & ~0xFFF) for lo, hi in ram
               if ((min(hi, limit) - size) & ~0xFFF) >= lo)
    assert addr == best, f"initrd at {addr:#x}, expected it as high as possible: {best:#x}"


def test_initrd_empty(glue, guest, tmp_path):
    """An empty initrd is a mistake: refused with one line naming it."""
    p = tmp_path / "empty"
    p.write_bytes(b"")
    r = glue("run", "-k", guest("elf"), "-i", p, "--console", "none", "-p", "glue.test=initrd")
    _assert_clean_failure(r, tmp_path, 1, re.escape(f"initrd '{p}': file is empty"))


def test_initrd_bigger_than_ram(glue, guest, tmp_path):
    p = tmp_path / "big"
    with open(p, "wb") as f:
        f.truncate(80 * MiB)
    r = glue("run", "-k", guest("elf"), "-m", "64", "-i", p, "--console", "none",
             "-p", "glue.test=reset")
    assert r.returncode == 1, r
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and re.search(r"initrd", lines[0], re.I), r.stderr


# ---------------------------------------------------------------------------
# vCPUs


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_smp(run_guest, n):
    v, tests, _ = run_guest("smp", cpus=n, extra=f"glue.expect_cpus={n}", timeout=30)
    t = assert_pass(tests, "smp", v)
    assert int(t["cpus"]) == n and int(t["mptable_cpus"]) == n, t
    assert t["apic_ids"] == ",".join(str(i) for i in range(n)), t


# ---------------------------------------------------------------------------
# Memory


def _bytes(s):
    return int(s[:-1]) * (GiB if s.endswith("G") else MiB)


@pytest.mark.parametrize("mem", ["64M", "512M", "3071M", "3072M", "3073M", "4096M", "5G", "8G"])
def test_memory(run_guest, mem):
    want = _bytes(mem)
    v, tests, _ = run_guest("mem", mem=mem, extra=f"glue.expect_mem={want}", timeout=30)
    t = assert_pass(tests, "mem", v)
    assert int(t["total"]) == want, t
    e820 = sorted(glueutil.parse_e820(v.log))
    assert e820 and len(e820) == int(t["entries"]), f"E820 lines vs entries={t['entries']}\n{v.report()}"
    for (b1, s1, _), (b2, _, _) in zip(e820, e820[1:]):
        assert b1 + s1 <= b2, f"overlapping e820 entries {e820}"
    ram = _ram_ranges(e820)
    assert sum(hi - lo for lo, hi in ram) == want, f"e820 RAM {ram} does not add up to {want}"
    for lo, hi in ram:
        assert hi <= 3 * GiB or lo >= 4 * GiB, f"RAM {lo:#x}-{hi:#x} in the 32-bit MMIO hole"
    high = sum(hi - lo for lo, hi in ram if lo >= 4 * GiB)
    if high:
        # RAM goes above 4 GiB only once everything below the hole is used.
        assert max(hi for lo, hi in ram if hi <= 4 * GiB) == 3 * GiB, f"e820 {e820}"
        assert min(lo for lo, hi in ram if lo >= 4 * GiB) == 4 * GiB, f"e820 {e820}"
    if want >= 3 * GiB:
        assert high > 0, f"-m {mem} needs RAM above 4 GiB: e820 {e820}"
    if want <= 2 * GiB:
        assert high == 0, f"-m {mem} fits below the hole: e820 {e820}"


# ---------------------------------------------------------------------------
# Serial console


@pytest.mark.parametrize("mode", ["serial", "serialirq"])
@pytest.mark.parametrize("line", ["hello glue 42", "x" * 60], ids=["short", "beyond-fifo"])
def test_serial_input(vm, guest, mode, line):
    v = vm(guest("elf"), params=f"glue.test={mode}", debug_exit=True)
    v.expect(r"^SERIAL READY", 20)
    v.send(line + "\n")
    m = v.expect(rf"^TEST {mode} (PASS|FAIL) (.*)$", 20)
    assert m.group(1) == "PASS", v.report()
    assert m.group(2).startswith(f"echo={line}"), f"echo differs: {m.group(2)!r}\n{v.report()}"
    if mode == "serialirq":
        kv = dict(re.findall(r"(\w+)=(\d+)", m.group(2)[len("echo=" + line):]))
        assert int(kv.get("rx_irqs", 0)) > 0 and int(kv.get("tx_irqs", 0)) > 0, m.group(2)
    v.expect(r"^GUEST DONE pass=1 fail=0", 20)
    assert v.wait_exit(20) == 0, v.report()


# ---------------------------------------------------------------------------
# Exit statuses


def test_reset_exits_0(vm, guest):
    v = vm(guest("elf"), params="glue.test=reset")
    assert v.wait_exit(20) == 0, v.report()
    assert re.search(r"^GUEST RESET via=i8042$", v.log, re.M), v.report()


def test_all_checks_pass(run_guest, tmp_path):
    path, _ = _initrd(tmp_path, 4096)
    v, tests, _ = run_guest("boot,mem,initrd,smp,rtc", "-i", path, cpus=2, mem="256M")
    for name in ("boot", "mem", "initrd", "smp", "rtc"):
        assert_pass(tests, name, v)
    assert re.search(r"^GUEST DONE pass=5 fail=0", v.log, re.M), v.report()


def test_debug_exit_reports_failure(run_guest):
    v, tests, rc = run_guest("boot,smp", cpus=2, extra="glue.expect_cpus=3", expect_status=4)
    assert tests["smp"][0] == "FAIL", v.report()
    assert re.search(r"^GUEST DONE pass=1 fail=1", v.log, re.M), v.report()


def test_debug_exit_port_absent_by_default(vm, guest):
    v = vm(guest("elf"), cpus=2, params="glue.test=smp glue.expect_cpus=3")
    v.expect(r"^GUEST DONE pass=0 fail=1", 20)
    assert v.wait_exit(20) == 0, f"without --debug-exit the status port is ignored\n{v.report()}"


# ---------------------------------------------------------------------------
# Bad inputs: one clear line on stderr, a non-zero status, no crash


def _host_mem_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 64 * GiB


def _bad_files(tmp_path, guest):
    elf = guest("elf").read_bytes()
    bz = guest("bzImage").read_bytes()
    rnd = random.Random(7)
    files = {
        "missing": tmp_path / "does-not-exist",
        "directory": tmp_path,
        "empty": b"",
        "garbage": rnd.randbytes(65536),
        "garbage-small": b"hello\n",
        "elf-truncated-header": elf[:40],
        "elf-truncated-phdrs": elf[:100],
        "elf-truncated-data": elf[: len(elf) // 2],
        "bz-truncated-setup": bz[:0x300],
        "bz-truncated-payload": bz[: len(bz) - 100],
        "bz-bad-magic": bz[:0x202] + b"XXXX" + bz[0x206:],
        "bz-huge-setup-sects": bz[:0x1F1] + b"\xff" + bz[0x1F2:],
        "elf-load-outside-ram": glueutil.make_pvh_elf(b"\xf4" * 16, load=0x40000000),
        "elf-load-at-4g-edge": glueutil.make_pvh_elf(b"\xf4" * 4096, load=0xFFFFF800),
        "elf-filesz-beyond-file": glueutil.make_pvh_elf(
            b"\xf4" * 16, phdr_extra=[(1, 0x10, 0x200000, 0x200000, 1 << 40, 1 << 40)]),
        "elf-offset-overflow": glueutil.make_pvh_elf(
            b"\xf4" * 16, phdr_extra=[(1, (1 << 64) - 8, 0x200000, 0x200000, 16, 16)]),
    }
    # An ELF with zero program headers (patch e_phnum).
    noload = bytearray(glueutil.make_pvh_elf(b"\xf4" * 16, note=False))
    struct.pack_into("<H", noload, 56, 0)
    files["elf-no-load"] = bytes(noload)
    out = {}
    for name, v in files.items():
        if isinstance(v, bytes):
            p = tmp_path / f"k-{name}"
            p.write_bytes(v)
            out[name] = p
        else:
            out[name] = v
    return out


BAD_KERNELS = ["missing", "directory", "empty", "garbage", "garbage-small", "elf-truncated-header",
               "elf-truncated-phdrs", "elf-truncated-data", "bz-truncated-setup",
               "bz-truncated-payload", "bz-bad-magic", "bz-huge-setup-sects",
               "elf-load-outside-ram", "elf-load-at-4g-edge", "elf-filesz-beyond-file",
               "elf-offset-overflow", "elf-no-load"]


def _assert_clean_failure(r, tmp_path, status=1, pattern=None):
    assert r.returncode == status, f"status {r.returncode}, expected {status}\n{r.stderr}"
    lines = error_lines(r.stderr)
    assert len(lines) == 1, f"expected one error line, got:\n{r.stderr}"
    assert lines[0].startswith("glue"), lines[0]
    if pattern:
        assert re.search(pattern, lines[0], re.I), lines[0]
    assert not list(Path(tmp_path).glob("core*")), "a core file was written"


@pytest.mark.parametrize("case", BAD_KERNELS)
def test_bad_kernel(glue, guest, tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    k = _bad_files(tmp_path, guest)[case]
    r = glue("run", "-k", k, "-m", "64", "--console", "none", "-p", "glue.test=reset")
    _assert_clean_failure(r, tmp_path, 1, re.escape(k.name))


def test_unreadable_kernel(glue, guest, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: file permissions do not stop reads (see the 'directory' case)")
    p = tmp_path / "noread"
    p.write_bytes(guest("elf").read_bytes())
    p.chmod(0)
    r = glue("run", "-k", p, "--console", "none", "-p", "glue.test=reset")
    _assert_clean_failure(r, tmp_path, 1, r"permission")


@pytest.mark.parametrize("case", ["missing", "directory"])
def test_bad_initrd(glue, guest, tmp_path, case):
    p = tmp_path / "nope" if case == "missing" else tmp_path
    r = glue("run", "-k", guest("elf"), "-i", p, "--console", "none", "-p", "glue.test=reset")
    _assert_clean_failure(r, tmp_path, 1, r"initrd|" + re.escape(str(p)))


@pytest.mark.parametrize("args,status,pattern", [
    (["-m", "0"], 2, r"memory|size"),
    (["-m", "abc"], 2, r"memory|size"),
    (["-m", "-5"], 2, r"memory|size"),
    (["-m", "1M"], 2, r"memory|size"),
    (["-m", "99999999999999999999"], 2, r"memory|size"),
    (["-c", "0"], 2, r"cpu"),
    (["-c", "100000"], 2, r"cpu"),
    (["-c", "two"], 2, r"cpu"),
    (["--boot", "floppy"], 2, r"boot"),
    (["--console", "tty7"], 2, r"console"),
    (["--frobnicate"], 2, r"frobnicate"),
    (["-n", "bad/name"], 2, r"name"),
    (["extra-arg"], 2, r"extra-arg"),
], ids=["m0", "m-abc", "m-neg", "m-1M", "m-overflow", "c0", "c100000", "c-two", "boot-bad",
        "console-bad", "unknown-option", "bad-name", "extra-arg"])
def test_bad_options(glue, guest, tmp_path, monkeypatch, args, status, pattern):
    monkeypatch.chdir(tmp_path)
    r = glue("run", "-k", guest("elf"), "--console", "none", "-p", "glue.test=reset", *args)
    _assert_clean_failure(r, tmp_path, status, pattern)


def test_no_kernel(glue, tmp_path):
    r = glue("run", "-m", "64")
    _assert_clean_failure(r, tmp_path, 2, r"kernel")


def test_memory_bigger_than_host(glue, guest, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gib = _host_mem_bytes() // GiB * 4 + 4
    r = glue("run", "-k", guest("elf"), "-m", f"{gib}G", "--console", "none",
             "-p", "glue.test=reset", timeout=60)
    assert r.returncode in (1, 2), f"-m {gib}G (host has {_host_mem_bytes() >> 30} GiB): {r}"
    _assert_clean_failure(r, tmp_path, r.returncode, r"memory|RAM|mem")


def test_memory_beyond_physical_address_space(glue, guest, tmp_path):
    r = glue("run", "-k", guest("elf"), "-m", "100000000G", "--console", "none",
             "-p", "glue.test=reset")
    assert r.returncode in (1, 2), r
    _assert_clean_failure(r, tmp_path, r.returncode, r"memory|RAM|mem")


def test_help_and_version(glue):
    r = glue("--version")
    assert r.returncode == 0 and re.match(r"glue \d+\.\d+\.\d+", r.stdout), r
    r = glue("run", "--help")
    assert r.returncode == 0 and "usage: glue run" in r.stdout and r.stderr == "", r
    for opt in ("--kernel", "--initrd", "--params", "--mem", "--cpus", "--boot", "--debug-exit"):
        assert opt in r.stdout, f"glue run --help does not mention {opt}"


@pytest.mark.parametrize("args,pattern", [
    (["frobnicate"], r"frobnicate"),
    (["--frobnicate"], r"frobnicate"),
    ([], r"usage"),
])
def test_bad_top_level_usage(glue, args, pattern):
    r = glue(*args)
    assert r.returncode == 2, r
    assert re.search(pattern, r.stderr, re.I), r.stderr


@pytest.mark.parametrize("case,status,pattern", [
    ("missing", 1, r"disk '.*missing.img'.*No such file"),
    ("odd-size", 1, r"multiple of 512"),
    ("directory", 1, r"Is a directory|not a file or a block device"),
    ("bad-option", 2, r"unknown option 'fast'"),
    ("long-serial", 2, r"longer than 20 bytes"),
    ("no-file", 2, r"--disk needs a file"),
    ("queues", 2, r"queues=17: 1 to 16"),
])
def test_bad_disk(glue, guest, tmp_path, case, status, pattern):
    """A disk that cannot be used is named in one error line, before KVM is
    needed, and nothing of it is changed."""
    if not glueutil.have("virtio_blk") or not glueutil.have("virtio_mmio"):
        pytest.skip("built without virtio-blk or virtio-mmio")
    odd = tmp_path / "odd.img"
    odd.write_bytes(b"x" * 1000)
    ok = tmp_path / "ok.img"
    ok.write_bytes(bytes(4096))
    arg = {
        "missing": str(tmp_path / "missing.img"),
        "odd-size": str(odd),
        "directory": str(tmp_path),
        "bad-option": f"{ok},fast",
        "long-serial": f"{ok},serial={'x' * 21}",
        "no-file": ",ro",
        "queues": f"{ok},queues=17",
    }[case]
    r = glue("run", "-k", guest("elf"), "-d", arg, "--console", "none", "-p", "glue.test=reset")
    _assert_clean_failure(r, tmp_path, status, pattern)
    assert odd.read_bytes() == b"x" * 1000 and ok.read_bytes() == bytes(4096)
