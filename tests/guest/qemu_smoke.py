#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Boot the test guest under QEMU/KVM, independently of glue.

    qemu_smoke.py BUILD_DIR

Runs the PVH ELF on microvm (all checks, serial input in both modes, 2
vCPUs, RAM above 4 GiB, an initrd) and the bzImage's 32-bit entry through its
real-mode setup on pc, and compares what the guest reports with what the host
knows. Exits 77 (skipped) without qemu-system-x86_64 or a usable /dev/kvm.
"""

import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

SKIP = 77
QEMU = shutil.which("qemu-system-x86_64")


def run(args, cmdline, send=(), timeout=60):
    """Run QEMU; answer each SERIAL READY with the next line of `send`."""
    cmd = [QEMU, "-enable-kvm", "-cpu", "host", "-nodefaults", "-no-user-config",
           "-display", "none", "-serial", "stdio", "-no-reboot",
           "-device", "isa-debug-exit,iobase=0x501,iosize=2", "-append", cmdline] + args
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out, sent, t0 = b"", 0, time.monotonic()
    os.set_blocking(p.stdout.fileno(), False)
    while True:
        if time.monotonic() - t0 > timeout:
            p.kill()
            p.wait()
            raise AssertionError("timed out:\n" + out.decode(errors="replace"))
        r, _, _ = select.select([p.stdout], [], [], 0.1)
        if r:
            d = p.stdout.read() or b""
            out += d
            if not d and p.poll() is not None:
                break
        if out.count(b"SERIAL READY") > sent and sent < len(send):
            p.stdin.write(send[sent].encode() + b"\n")
            p.stdin.flush()
            sent += 1
        if p.poll() is not None and not r:
            out += p.stdout.read() or b""
            break
    return p.wait(), out.decode(errors="replace").replace("\r", "")


def tests_of(log):
    return {m.group(1): (m.group(2), dict(re.findall(r"(\w+)=(\S*)", m.group(3))), m.group(0))
            for m in re.finditer(r"^TEST (\S+) (PASS|FAIL)(.*)$", log, re.M)}


def expect_pass(log, names):
    t = tests_of(log)
    for n in names:
        assert n in t and t[n][0] == "PASS", "%s did not pass:\n%s" % (n, log)
    assert re.search(r"^GUEST DONE pass=%d fail=0" % len(names), log, re.M), log
    return t


def main(argv):
    d = argv[0]
    if not QEMU:
        print("skip: no qemu-system-x86_64")
        return SKIP
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("skip: /dev/kvm not usable")
        return SKIP
    elf = os.path.join(d, "glue-test-guest.elf")
    bz = os.path.join(d, "glue-test-guest.bzImage")
    with tempfile.TemporaryDirectory() as tmp:
        initrd = os.path.join(tmp, "initrd")
        data = os.urandom(100000)
        with open(initrd, "wb") as f:
            f.write(data)

        checks = ["boot", "mem", "initrd", "smp", "rtc", "serial", "serialirq"]
        cmdline = "glue.test=%s glue.expect_cpus=2 x=\"a b\"" % ",".join(checks)
        rc, log = run(["-M", "microvm,x-option-roms=off,rtc=on", "-m", "6G", "-smp", "2",
                       "-kernel", elf, "-initrd", initrd], cmdline,
                      send=["hello glue", "x" * 60])
        assert rc == 1, "QEMU status %d (debug-exit 0 gives 1)\n%s" % (rc, log)
        t = expect_pass(log, checks)
        assert re.search(r"^GUEST entry=pvh ", log, re.M), log
        assert re.search(r"^CMDLINE %s$" % re.escape(cmdline), log, re.M), log
        assert int(t["boot"][1]["cmdline_crc32"], 16) == zlib.crc32(cmdline.encode()), log
        assert int(t["initrd"][1]["size"]) == len(data), log
        assert int(t["initrd"][1]["crc32"], 16) == zlib.crc32(data), log
        assert t["smp"][1]["apic_ids"] == "0,1", log
        ram = sum(int(m.group(2), 16) for m in
                  re.finditer(r"^E820 0x([0-9a-f]+) 0x([0-9a-f]+) 1$", log, re.M))
        assert int(t["mem"][1]["total"]) == ram > 4 << 30, log
        assert "echo=hello glue" in t["serial"][2], log
        assert "echo=" + "x" * 60 + " " in t["serialirq"][2], log
        print("ok microvm PVH: %s" % ",".join(checks))

        rc, log = run(["-M", "pc", "-m", "256", "-kernel", bz], "glue.test=boot,mem,rtc,reset")
        assert rc == 0, "QEMU status %d\n%s" % (rc, log)
        assert re.search(r"^GUEST entry=linux32 protocol=linux-2.15 ", log, re.M), log
        t = tests_of(log)
        for n in ("boot", "mem", "rtc"):
            assert t.get(n, ("FAIL",))[0] == "PASS", log
        assert re.search(r"^GUEST RESET via=i8042$", log, re.M), log
        print("ok pc bzImage 32-bit entry: boot,mem,rtc,reset")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except AssertionError as e:
        print("FAIL: %s" % e)
        sys.exit(1)
