# SPDX-License-Identifier: MIT
"""Debian's stock kernel with a busybox initramfs, booted to a shell on the
serial console and driven from there: what a user of glue would check. Runs
where KVM is hardware-backed (natively, or inside the test host); under an
emulated KVM (PVM) an ordinary kernel takes tens of minutes to get here."""

import hashlib
import json
import os
import re
import subprocess
import sys
import time

import pytest

import glueutil
import stockkernel

pytestmark = [pytest.mark.linux, pytest.mark.slow]

MiB = 1 << 20
DEFAULTS = "console=ttyS0 reboot=k i8042.noaux i8042.nopnp"


@pytest.fixture(scope="module")
def hw(host_kind):
    if host_kind != "hardware":
        pytest.skip("KVM here is not hardware-backed (emulated, e.g. PVM): a stock kernel cannot "
                    "reach userspace in reasonable time; run the suite in the test host "
                    "(scripts/testhost, or scripts/test.sh which does it)")


@pytest.fixture(scope="module")
def vmlinuz(hw):
    try:
        return stockkernel.vmlinuz()
    except stockkernel.Unavailable as e:
        pytest.skip(f"no stock kernel: {e}")


@pytest.fixture(scope="module")
def release(vmlinuz):
    if os.environ.get("GLUE_STOCK_KERNEL"):
        return None
    return stockkernel.kernel().release


# 1 MiB of incompressible data the initramfs carries, to be checked inside.
BLOB = hashlib.sha256(b"glue").digest() * (MiB // 32)

# busybox udhcpc only reports a lease: this configures it (mask is the prefix length).
UDHCPC = b"""#!/bin/sh
case "$1" in
bound|renew)
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route add default via "$router"
    echo "GLUE-DHCP ip=$ip router=$router dns=$dns"
    ;;
esac
"""


@pytest.fixture(scope="module")
def initramfs(hw, tmp_path_factory):
    try:
        data = stockkernel.busybox_initramfs(files={"data/blob": BLOB,
                                                    "etc/udhcpc.sh": (UDHCPC, 0o755)})
    except stockkernel.Unavailable as e:
        pytest.skip(str(e))
    p = tmp_path_factory.mktemp("initramfs") / "initramfs.cpio"
    p.write_bytes(data)
    return p


class Shell:
    """The guest's shell on a VM's console. run(cmd) types cmd and returns
    (output, status): each command is followed by an echo of a numbered
    marker and $?, so the output is exactly what the command printed."""

    def __init__(self, v):
        self.v = v
        self.n = 0

    def run(self, cmd, timeout=30):
        self.n += 1
        mark = f"@@{self.n}@@"
        self.v.send(f"{cmd}; echo {mark} $?\n")
        # The echoed command line shows the marker with a literal $?.
        self.v.expect(re.escape(mark) + r" \$\?\r?$", timeout)
        m = self.v.expect(r"((?:.*\n)*?)" + re.escape(mark) + r" (\d+)\r?$", timeout)
        # The next prompt before the next command: typed earlier, a command
        # is echoed twice (by the tty, then by ash's line editor).
        self.v.expect(stockkernel.PROMPT, timeout, partial=True)
        return m.group(1).replace("\r", "").strip("\n"), int(m.group(2))

    def out(self, cmd, timeout=30):
        text, status = self.run(cmd, timeout)
        assert status == 0, f"'{cmd}' exited with {status}: {text}\n{self.v.report()}"
        return text


QUIET = "panic=-1 quiet"


def _boot(vm, vmlinuz, initramfs, *args, mem="512M", cpus=2, params=QUIET, name=None,
          initrd=None, verbose=True):
    v = vm(vmlinuz, "-i", initrd or initramfs, *args, mem=mem, cpus=cpus, params=params,
           default_params=True, name=name, verbose=verbose)
    v.expect(r"^GLUE-INIT-42\r?$", 120)
    v.expect(stockkernel.PROMPT, 30, partial=True)
    return v, Shell(v)


@pytest.fixture
def linux(vm, vmlinuz, initramfs):
    """linux(mem=, cpus=, params=, name=, initrd=, verbose=) boots the stock
    kernel (quiet: every console byte is a VM exit) to its shell and returns
    (VM, Shell)."""
    return lambda *args, kernel=None, **kw: _boot(vm, kernel or vmlinuz, initramfs, *args, **kw)


SHARED_PARAMS = "panic=-1 quiet glue.t=a,b x=\"y z\""


@pytest.fixture(scope="module")
def shared(hw, glue_bin, vmlinuz, initramfs, timeouts, tmp_path_factory):
    """One VM (2 vCPUs, 512 MiB) that the read-only checks below share, so
    the suite boots Linux once for all of them."""
    cmd = [glue_bin, "-v", "run", "-k", vmlinuz, "-i", initramfs, "-m", "512M", "-c", "2",
           "-p", SHARED_PARAMS]
    # One boot in a few hundred under CI load has stalled silently before
    # init (CI, 2026-12-01; 200 boots here could not repeat it): a second
    # boot keeps the seven checks below from failing on it, and the first
    # one's report (with where glue's threads were) goes to the log.
    for attempt in (1, 2):
        rundir = tmp_path_factory.mktemp("rt")
        v = glueutil.VM(cmd, glueutil.runtime_env(rundir), timeouts)
        try:
            v.expect(r"^GLUE-INIT-42\r?$", 120)
            break
        except pytest.fail.Exception:
            # Only a stall: a VM that exited (a crash, a panic) fails at once.
            if attempt == 2 or not v.running():
                v.kill()
                raise
            print(f"shared VM: first boot stalled; booting again\n{v.report()}", file=sys.stderr)
            v.kill()
    try:
        v.expect(stockkernel.PROMPT, 30, partial=True)
        yield v, Shell(v)
    finally:
        v.kill()


def test_shell_and_kernel(shared, release):
    v, sh = shared
    assert sh.out("echo MARK$((6*7))") == "MARK42"
    if release:
        assert sh.out("uname -r") == release, v.report()
    # Serial input both ways, longer than the UART's FIFO.
    line = "".join(chr(ord("a") + i % 26) for i in range(300))
    assert sh.out(f"echo {line} | wc -c") == str(len(line) + 1)


def test_cmdline_exact(shared):
    v, sh = shared
    assert sh.out("cat /proc/cmdline") == f"{SHARED_PARAMS} {DEFAULTS}", v.report()


def test_initrd_contents(shared):
    v, sh = shared
    assert sh.out("sha256sum /data/blob | cut -d' ' -f1") == hashlib.sha256(BLOB).hexdigest()
    assert sh.out("wc -c < /data/blob") == str(len(BLOB))


def check_cpus(v, sh, cpus):
    assert sh.out("grep -c ^processor /proc/cpuinfo") == str(cpus), v.report()
    # The LAPIC timer in TSC-deadline mode (KVM reports it by a capability,
    # not in its CPUID table): without it the kernel calibrates the one-shot
    # count against another clock and its timers run inexactly.
    assert sh.out("grep -c '^flags.* tsc_deadline_timer' /proc/cpuinfo") == str(cpus), v.report()
    assert sh.out("cat /sys/devices/system/cpu/online") == ("0" if cpus == 1 else f"0-{cpus - 1}")
    # Each CPU really runs: pin a task to it.
    for c in range(cpus):
        assert sh.out(f"taskset -c {c} cat /proc/self/stat | cut -d' ' -f39") == str(c)
    # ...and Linux found them in the ACPI MADT: a MADT it rejects makes it
    # disable ACPI and fall back to the MP table, which lists them too.
    log = sh.out("dmesg")
    assert "ACPI: Using ACPI (MADT) for SMP configuration information" in log, log
    assert not re.search(r"Invalid BIOS MADT|disabling ACPI", log), log


def check_memory(v, sh, mem):
    log = sh.out("dmesg")
    ranges = [(int(a, 16), int(b, 16) + 1) for a, b in
              re.findall(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] usable", log)]
    assert sum(b - a for a, b in ranges) == mem * MiB, f"e820 usable RAM {ranges} for -m {mem}M"
    if mem > 3072:
        assert any(a >= 1 << 32 for a, _ in ranges), f"no RAM above 4 GiB: {ranges}"
    m = re.search(r"Memory: (\d+)K/(\d+)K available", log)
    assert m, log
    total_k = int(m.group(2))
    # The kernel counts every page glue's e820 gave it, less page 0 and the
    # legacy 640K-1M hole.
    assert mem * 1024 - 388 <= total_k <= mem * 1024, (total_k, mem)
    kb = int(re.search(r"MemTotal:\s+(\d+) kB", sh.out("grep MemTotal /proc/meminfo")).group(1))
    # MemTotal is that less what the kernel keeps for itself (its image,
    # page structs: well under 10% plus 64 MiB here).
    assert total_k * 0.9 - 64 * 1024 <= kb <= total_k, f"MemTotal {kb} kB with -m {mem}M"


def test_virtio_rng(shared):
    """glue's default virtio-rng over virtio-mmio (announced by ACPI): Linux
    binds virtio_rng and /dev/hwrng gives bytes that are not all the same."""
    if not glueutil.have("virtio_rng") or not glueutil.have("virtio_mmio"):
        pytest.skip("built without virtio-rng or virtio-mmio")
    v, sh = shared
    assert sh.out("cat /sys/bus/virtio/devices/virtio*/device") == "0x0004", v.report()
    assert sh.out("cat /sys/class/misc/hw_random/rng_current").startswith("virtio_rng"), \
        v.report()
    # (commands under 80 columns: ash's line editor wraps longer ones)
    def hwrng_kib():
        sh.out("dd if=/dev/hwrng of=/tmp/r bs=256 count=4 2>/dev/null")
        return bytes.fromhex("".join(sh.out("od -An -v -tx1 /tmp/r").split()))
    data = hwrng_kib()
    assert len(data) == 1024, data
    assert len(set(data)) > 100, f"1 KiB from /dev/hwrng with few distinct bytes: {data.hex()}"
    assert hwrng_kib() != data


def test_pci_bus(shared):
    """The default transport: a PCI host bridge Linux finds through ACPI
    (PNP0A08) with ECAM from MCFG, virtio devices on it with MSI-X."""
    if not glueutil.have("pci"):
        pytest.skip("built without PCI")
    v, sh = shared
    assert "No config space access function" not in v.log, v.report()
    assert sh.out("ls /sys/bus/pci/devices").split()[0] == "0000:00:00.0"
    assert sh.out("cat /sys/bus/pci/devices/0000:00:00.0/class") == "0x060000"
    vendors = sh.out("cat /sys/bus/pci/devices/*/vendor").split()
    assert vendors.count("0x1af4") >= 1, vendors
    assert "PCI-MSI" in sh.out("cat /proc/interrupts"), v.report()
    out = sh.out("dmesg | grep MMCONFIG")
    assert "reserved in ACPI motherboard resources" in out, out


def test_no_rng(linux):
    """--no-rng: no virtio device at all."""
    v, sh = linux("--no-rng", cpus=1)
    assert sh.out("ls /sys/bus/virtio/devices/ | wc -l") == "0", v.report()
    text, status = sh.run("cat /sys/class/misc/hw_random/rng_current")
    assert status != 0 or "virtio" not in text, text


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("transport", ["pci", "mmio"])
def test_disks(linux, tmp_path, transport):
    """Two disks, over PCI (MSI-X) or virtio-mmio (ACPI): an ext4 image made
    on the host (serial set) that Linux mounts, reads, writes, syncs and
    trims; and a read-only raw disk. After kill -9 of glue the host finds
    every synced byte."""
    if not glueutil.have("virtio_blk") or not glueutil.have(
            "pci" if transport == "pci" else "virtio_mmio"):
        pytest.skip(f"built without virtio-blk or {transport}")
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello.txt").write_text("hello from the host\n")
    (src / "blob").write_bytes(BLOB)
    img = tmp_path / "ext4.img"
    r = subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(src), str(img), "32M"],
                                capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"mkfs.ext4 -d: {r.stderr}")
    raw = tmp_path / "raw.img"
    raw.write_bytes(bytes(range(256)) * 4096)  # 1 MiB

    v, sh = linux("--transport", transport, "-d", f"{img},serial=glue-disk-1", "-d",
                  f"{raw},ro", cpus=1)
    # vda and vdb are the disks in the order given, on the transport asked for
    for i, d in enumerate(("vda", "vdb")):
        where = sh.out(f"readlink -f /sys/block/{d}/device")
        want = f"/pci0000:00/0000:00:0{i + 1}.0/" if transport == "pci" else \
            f"/platform/LNRO0005:0{i}/"
        assert want in where, f"{d} at {where}, wanted {want}"
    # (the attribute has no newline of its own)
    assert sh.out("cat /sys/block/vda/serial; echo") == "glue-disk-1", v.report()
    assert sh.out("cat /sys/block/vda/size") == str(32 * MiB // 512)
    assert sh.out("cat /sys/block/vdb/ro") == "1"
    assert sh.out("cat /sys/block/vdb/size") == str(MiB // 512)

    sh.out("mkdir -p /mnt && mount -t ext4 /dev/vda /mnt")
    assert sh.out("cat /mnt/hello.txt") == "hello from the host"
    assert sh.out("sha256sum /mnt/blob").split()[0] == hashlib.sha256(BLOB).hexdigest()
    sh.out("dd if=/dev/urandom of=/mnt/new bs=64k count=32 2>/dev/null")
    sh.out("echo written in the guest > /mnt/note.txt")
    new_sum = sh.out("sha256sum /mnt/new").split()[0]
    sh.out("sync")
    out = sh.out("rm /mnt/blob && sync && fstrim -v /mnt")
    assert re.search(r"trimmed", out), out

    assert sh.out("sha256sum /dev/vdb").split()[0] == _sha256(raw)
    text, status = sh.run("dd if=/dev/zero of=/dev/vdb bs=512 count=1 conv=fsync")
    assert status != 0, f"a write to the read-only disk succeeded: {text}"

    v.kill()
    assert _sha256(raw) == hashlib.sha256(bytes(range(256)) * 4096).hexdigest()
    # The journal holds what was synced: replay it on a copy, then read the files.
    copy = tmp_path / "copy.img"
    copy.write_bytes(img.read_bytes())
    r = subprocess.run(["e2fsck", "-fy", str(copy)], capture_output=True, text=True)
    assert r.returncode < 4, f"e2fsck found errors it could not fix:\n{r.stdout}{r.stderr}"
    r = subprocess.run(["e2fsck", "-fn", str(copy)], capture_output=True, text=True)
    assert r.returncode == 0, f"not clean after recovery:\n{r.stdout}{r.stderr}"
    for name, want in (("new", new_sum),
                       ("note.txt", hashlib.sha256(b"written in the guest\n").hexdigest())):
        out = tmp_path / name
        r = subprocess.run(["debugfs", "-R", f"dump /{name} {out}", str(copy)],
                                    capture_output=True, text=True)
        assert out.exists(), f"{name} is not on the disk: {r.stderr}"
        assert _sha256(out) == want, f"{name} differs on the host"


def test_disk_queues(linux, tmp_path):
    """queues=2 on 2 vCPUs: Linux's virtio_blk uses both (blk-mq hardware queues)."""
    if not glueutil.have("virtio_blk"):
        pytest.skip("built without virtio-blk")
    img = tmp_path / "q.img"
    img.write_bytes(bytes(range(256)) * 8192)  # 2 MiB
    v, sh = linux("-d", f"{img},queues=2", cpus=2)
    assert sh.out("ls /sys/block/vda/mq").split() == ["0", "1"], v.report()
    sums = {sh.out(f"taskset -c {c} sha256sum /dev/vda").split()[0] for c in (0, 1)}
    assert sums == {hashlib.sha256(img.read_bytes()).hexdigest()}, sums


def test_cache_none_on_a_4k_native_disk(linux, tmp_path):
    """cache=none (O_DIRECT) on a block device with 4 KiB logical blocks (a
    loop device made so): the guest is told 4096-byte blocks, so its direct
    reads and writes are ones the host can do; a plain file stays at 512."""
    if not glueutil.have("virtio_blk"):
        pytest.skip("built without virtio-blk")
    if os.geteuid() != 0:
        pytest.skip("needs root for a loop device")
    img = tmp_path / "4k.img"
    img.write_bytes(bytes(8 * MiB))
    r = subprocess.run(["losetup", "--sector-size", "4096", "-f", "--show", str(img)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"no loop device here: {r.stderr.strip()}")
    dev = r.stdout.strip()
    plain = tmp_path / "plain.img"
    plain.write_bytes(bytes(MiB))
    try:
        v, sh = linux("-d", f"{dev},cache=none", "-d", str(plain), cpus=1)
        assert sh.out("cat /sys/block/vda/queue/logical_block_size") == "4096", v.report()
        assert sh.out("cat /sys/block/vdb/queue/logical_block_size") == "512", v.report()
        sh.out("dd if=/dev/urandom of=/tmp/p bs=4k count=16 2>/dev/null")
        want = sh.out("sha256sum /tmp/p | cut -d' ' -f1")
        sh.out("dd if=/tmp/p of=/dev/vda bs=4k count=16 oflag=direct 2>/dev/null; echo $?")
        got = sh.out("dd if=/dev/vda bs=4k count=16 iflag=direct 2>/dev/null | sha256sum"
                     " | cut -d' ' -f1")
        assert got == want, v.report()
        v.send("poweroff\n")
        assert v.wait_exit(60) == 0, v.report()
    finally:
        subprocess.run(["losetup", "-d", dev], capture_output=True)
    assert hashlib.sha256(img.read_bytes()[:64 * 1024]).hexdigest() == want


def test_a_disk_in_use_is_refused(linux, vm, vmlinuz, tmp_path):
    """The OFD lock: a second VM cannot open a disk the first one writes."""
    if not glueutil.have("virtio_blk") or not glueutil.have("virtio_mmio"):
        pytest.skip("built without virtio-blk or virtio-mmio")
    img = tmp_path / "d.img"
    img.write_bytes(bytes(MiB))
    v, sh = linux("-d", str(img), cpus=1)
    assert sh.out("cat /sys/block/vda/size") == str(MiB // 512)
    w = vm(vmlinuz, "-d", str(img), "--console", "none")
    rc = w.wait_exit(30)
    assert rc == 1, w.report()
    assert re.search(r"in use by another process", w.stderr), w.report()


def test_cpus_shared(shared):
    check_cpus(*shared, 2)


def test_memory_shared(shared):
    check_memory(*shared, 512)


@pytest.mark.parametrize("cpus", [1, 4])
def test_cpus(linux, cpus):
    check_cpus(*linux(cpus=cpus), cpus)


# -m sizes: up to the 32-bit MMIO hole (3 GiB), and across it, with RAM
# above 4 GiB.
@pytest.mark.parametrize("mem", [3072, 4608])
def test_memory(linux, mem):
    check_memory(*linux(mem=f"{mem}M", cpus=1), mem)


def test_poweroff_ends_the_vm(linux):
    v, sh = linux()
    v.send("poweroff\n")
    assert v.wait_exit(60) == 0, v.report()
    assert "glue: guest powered off (ACPI S5)" in v.stderr, v.report()


def test_reboot_ends_the_vm(linux):
    v, sh = linux()
    v.send("reboot\n")
    assert v.wait_exit(60) == 0, v.report()
    assert "glue: guest reset through the i8042" in v.stderr, v.report()


def list_json(glue):
    r = glue("list", "--json")
    assert r.returncode == 0, r
    return {d["name"]: d for d in json.loads(r.stdout)}


def uptime(sh):
    return float(sh.out("cut -d' ' -f1 /proc/uptime"))


def test_pause_resume_then_stop(linux, glue):
    """glue list/pause/resume/stop on a Linux guest: the paused guest's
    clock stands still, it runs on after resume, and stop presses the ACPI
    power button, which acpid turns into a poweroff."""
    v, sh = linux(name="lx")
    assert list_json(glue)["lx"]["state"] == "running"
    u0, t0 = uptime(sh), time.monotonic()
    r = glue("pause", "-n", "lx")
    assert r.returncode == 0, r
    assert list_json(glue)["lx"]["state"] == "paused"
    pos = len(v.log)
    v.send("echo AWAKE\n")
    time.sleep(5)
    assert not re.search(r"^AWAKE\r?$", v.log[pos:], re.M), f"a paused guest answered\n{v.report()}"
    r = glue("resume", "-n", "lx")
    assert r.returncode == 0, r
    v.expect(r"^AWAKE\r?$", 30)
    v.expect(stockkernel.PROMPT, 30, partial=True)
    u1, t1 = uptime(sh), time.monotonic()
    host, guest = t1 - t0, u1 - u0
    # The guest's clock ran only while it ran: it missed the 5 s pause.
    assert 0 < guest < host - 3.5, f"guest clock moved {guest:.1f} s over {host:.1f} s, 5 s paused"
    time.sleep(2)
    assert uptime(sh) - u1 >= 1.5, "the guest clock stopped after the resume"
    assert list_json(glue)["lx"]["state"] == "running"

    r = glue("stop", "-n", "lx", "--timeout", "60", timeout=90)
    assert r.returncode == 0, r
    assert v.wait_exit(10) == 0, v.report()
    assert "GLUE-POWER-BUTTON" in v.log, v.report()  # acpid ran its action
    assert "glue: pressed the ACPI power button" in v.stderr, v.report()
    assert "glue: guest powered off (ACPI S5)" in v.stderr, v.report()
    assert "Ctrl-Alt-Del" not in v.stderr, v.report()
    assert "lx" not in list_json(glue)


def test_stop_without_acpi_falls_back_to_ctrl_alt_del(linux, glue):
    """A guest without ACPI never takes the button: glue sends
    Ctrl-Alt-Del, busybox init reboots, and the VM ends."""
    v, sh = linux(name="lx-noacpi", params="panic=-1 quiet acpi=off")
    r = glue("stop", "-n", "lx-noacpi", "--timeout", "60", timeout=90)
    assert r.returncode == 0, r
    assert v.wait_exit(10) == 0, v.report()
    assert "glue: the guest did not take the ACPI power button" in v.stderr, v.report()
    assert "Ctrl-Alt-Del" in v.stderr, v.report()
    assert "GLUE-POWER-BUTTON" not in v.log, v.report()


@pytest.mark.parametrize("boot", ["pvh", "bzimage"])
def test_other_entry_paths(linux, boot):
    """The ELF inside the kernel through PVH, and the bzImage's own 64-bit
    entry (the kernel decompresses itself: slower)."""
    if boot == "pvh" and os.environ.get("GLUE_STOCK_KERNEL"):
        pytest.skip("GLUE_STOCK_KERNEL: no unpacked ELF of it")
    v, sh = linux("--boot", boot, kernel=stockkernel.vmlinux() if boot == "pvh" else None)
    assert sh.out("grep -c ^processor /proc/cpuinfo") == "2"
    v.send("poweroff\n")
    assert v.wait_exit(60) == 0, v.report()


# ---------------------------------------------------------------------------
# virtio-net


class _Web:
    """An HTTP server on the host: GET /NAME serves files[NAME], POST stores
    the body's sha256 in posted (path -> hex digest)."""

    def __init__(self, addr, files):
        import http.server
        import threading

        web = self
        self.files, self.posted = files, {}

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = web.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(n)
                web.posted[self.path] = hashlib.sha256(data).hexdigest()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer((addr, 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http_get(url, timeout=30):
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def _need_net(user=False):
    if not glueutil.have("virtio_net"):
        pytest.skip("built without virtio-net")
    if user and not glueutil.have("slirp"):
        pytest.skip("built without user-mode networking (libslirp)")


BIG = hashlib.sha256(b"net").digest() * (4 * MiB // 32)  # 4 MiB


def _big_both_ways(sh, web, host):
    """BIG from web (at host, as the guest reaches it) to the guest and back,
    the checksums equal both ways; leaves $U set to web's address in the shell."""
    sh.out(f"U=http://{host}:{web.port}")  # (commands stay under 80 columns)
    got = sh.out("wget -q -O - $U/big | sha256sum", timeout=120)
    assert got.split()[0] == hashlib.sha256(BIG).hexdigest()
    sh.out("wget -q -O /tmp/big $U/big", timeout=120)
    sh.out("wget -q -O - --post-file=/tmp/big $U/up", timeout=120)
    assert web.posted.get("/up") == hashlib.sha256(BIG).hexdigest(), web.posted


@pytest.mark.parametrize("transport", ["pci", "mmio"])
def test_net_user(linux, glue, transport):
    """--net user: Linux's virtio_net gets 10.0.2.15 from slirp's DHCP,
    fetches and posts 4 MiB through the gateway to a server on the host's
    loopback (checksums equal), and a hostfwd rule makes the guest's httpd
    reachable from the host; glue list --json shows the NICs and the port.
    A second NIC with no flags gets a MAC of its own, from the VM's name."""
    _need_net(user=True)
    if not glueutil.have("pci" if transport == "pci" else "virtio_mmio"):
        pytest.skip(f"built without {transport}")
    web = _Web("127.0.0.1", {"hello.txt": b"hello from the host\n", "big": BIG})
    fwd = _free_port()
    try:
        v, sh = linux("--transport", transport, "--net",
                      f"user,hostfwd=tcp:127.0.0.1:{fwd}-:8080,mac=02:00:00:00:00:42",
                      "--net", "user", cpus=1, name=f"net-{transport}")
        assert sh.out("cat /sys/class/net/eth0/address") == "02:00:00:00:00:42"
        mac1 = sh.out("cat /sys/class/net/eth1/address")
        assert mac1.startswith("02:") and mac1 != "02:00:00:00:00:42", mac1
        nics = list_json(glue)[f"net-{transport}"]["nics"]
        assert nics == [
            {"backend": "user", "mac": "02:00:00:00:00:42", "restricted": False,
             "hostfwd": [f"tcp:127.0.0.1:{fwd}-10.0.2.15:8080"]},
            {"backend": "user", "mac": mac1, "restricted": False, "hostfwd": []},
        ], nics
        assert sh.out("basename $(readlink /sys/class/net/eth0/device/driver)") == "virtio_net"
        sh.out("ip link set eth0 up")
        out = sh.out("udhcpc -i eth0 -n -q -t 10 -s /etc/udhcpc.sh 2>&1", timeout=60)
        assert "GLUE-DHCP ip=10.0.2.15 router=10.0.2.2 dns=10.0.2.3" in out, out
        _big_both_ways(sh, web, "10.0.2.2")
        assert sh.out("wget -q -O - $U/hello.txt") == "hello from the host"
        # the host reaches the guest through the forwarded port
        sh.out("httpd -p 8080 -h /data")
        assert _http_get(f"http://127.0.0.1:{fwd}/blob") == BLOB
        # nothing malformed on the way, nothing dropped that Linux sent
        out = sh.out("cat /sys/class/net/eth0/statistics/tx_errors "
                     "/sys/class/net/eth0/statistics/rx_errors")
        assert out.split() == ["0", "0"], out
    finally:
        web.close()


def test_net_user_restricted(linux):
    """restrict=on: DHCP still works and forwarded ports still reach the
    guest, but nothing the guest sends leaves (the host's server is not
    reached through the gateway)."""
    _need_net(user=True)
    web = _Web("127.0.0.1", {"hello.txt": b"hello\n"})
    fwd = _free_port()
    try:
        v, sh = linux("--net", f"user,restrict=on,hostfwd=tcp:127.0.0.1:{fwd}-:8080", cpus=1)
        sh.out("ip link set eth0 up")
        out = sh.out("udhcpc -i eth0 -n -q -t 10 -s /etc/udhcpc.sh 2>&1", timeout=60)
        assert "GLUE-DHCP ip=10.0.2.15" in out, out
        sh.out(f"U=http://10.0.2.2:{web.port}")
        text, status = sh.run("timeout 10 wget -q -O - $U/hello.txt", timeout=30)
        assert status != 0 and "hello" not in text, f"restricted, yet reached the host: {text}"
        sh.out("httpd -p 8080 -h /data")
        assert _http_get(f"http://127.0.0.1:{fwd}/blob") == BLOB
    finally:
        web.close()


def test_net_errors_before_start(vm, vmlinuz, tmp_path):
    """A busy host port, a malformed rule: one clear line, before the VM starts."""
    _need_net(user=True)
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for spec, msg in ((f"user,hostfwd=tcp:127.0.0.1:{port}-:80", r"port is in use"),
                          ("user,hostfwd=tcp:127.0.0.1:80:80", r"hostfwd 'tcp:127.0.0.1:80:80'"),
                          ("user,hostfwd=tcp::99999-:80", r"not 1-65535")):
            w = vm(vmlinuz, "--net", spec, "--console", "none")
            rc = w.wait_exit(30)
            assert rc == 1, w.report()
            lines = glueutil.error_lines(w.stderr)
            assert len(lines) == 1 and re.search(msg, lines[0]), w.report()


def _ip(*args):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


@pytest.fixture
def tap():
    """A tap device of this user's, addressed 192.168.77.1/24 and up (skips
    without the right to make one)."""
    name = f"gluetap{os.getpid() % 10000}"
    try:
        _ip("tuntap", "add", "dev", name, "mode", "tap", "user", str(os.getuid()))
    except (RuntimeError, FileNotFoundError) as e:
        pytest.skip(f"cannot make a tap device here: {e}")
    try:
        _ip("addr", "add", "192.168.77.1/24", "dev", name)
        _ip("link", "set", name, "up")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


@pytest.mark.parametrize("vhost", ["off", "on"])
def test_net_tap(linux, glue, tap, vhost):
    """--net tap=IF: the guest and the host side of the tap ping each other,
    4 MiB go both ways with equal checksums (with the offloads a tap takes),
    and the host setting the tap down and up is the guest's carrier. With
    vhost=on the kernel's vhost-net moves the frames (glue list says so)."""
    _need_net()
    if vhost == "on":
        if not glueutil.have("vhost"):
            pytest.skip("built without vhost-net")
        try:
            os.close(os.open("/dev/vhost-net", os.O_RDWR))
        except OSError as e:
            pytest.skip(f"no vhost-net here: {e}")
    web = _Web("192.168.77.1", {"big": BIG})
    try:
        v, sh = linux("--net", f"tap={tap},vhost={vhost}", cpus=1, name=f"tap-{vhost}")
        nics = list_json(glue)[f"tap-{vhost}"]["nics"]
        assert nics[0]["vhost"] == (vhost == "on"), nics
        sh.out("ip addr add 192.168.77.2/24 dev eth0 && ip link set eth0 up")
        sh.out("ping -c 3 -W 5 192.168.77.1", timeout=60)
        _big_both_ways(sh, web, "192.168.77.1")
        sh.out("httpd -p 8080 -h /data")
        assert _http_get("http://192.168.77.2:8080/blob") == BLOB
        # offloads: the tap took checksum and segmentation offload
        feats = sh.out("cat /sys/class/net/eth0/device/features")
        assert feats[0] == "1", f"no VIRTIO_NET_F_CSUM: {feats}"

        def carrier():
            return sh.out("cat /sys/class/net/eth0/carrier")

        assert carrier() == "1"
        _ip("link", "set", tap, "down")
        for _ in range(20):
            if carrier() == "0":
                break
            time.sleep(0.5)
        assert carrier() == "0", "the guest did not see the link go down"
        _ip("link", "set", tap, "up")
        for _ in range(20):
            if carrier() == "1":
                break
            time.sleep(0.5)
        assert carrier() == "1", "the guest did not see the link come back"
        sh.out("ping -c 1 -W 5 192.168.77.1", timeout=30)
        if vhost == "on":
            # the kernel's vhost worker for glue did the work (Linux 6.1: a
            # kernel thread vhost-PID; user ticks + system ticks)
            r = subprocess.run(["pgrep", "-x", f"vhost-{v.proc.pid}"], capture_output=True, text=True)
            assert r.stdout.split(), f"no vhost-{v.proc.pid} thread"
            ticks = 0
            for tid in r.stdout.split():
                with open(f"/proc/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
            assert ticks > 0, "vhost-net's thread never ran"
    finally:
        web.close()


@pytest.fixture
def bridge():
    """A bridge with two taps of this user's on it, all up (skips without the
    right to make them)."""
    n = os.getpid() % 10000
    br, taps = f"gluebr{n}", [f"gluebt{n}a", f"gluebt{n}b"]
    try:
        _ip("link", "add", br, "type", "bridge")
    except (RuntimeError, FileNotFoundError) as e:
        pytest.skip(f"cannot make a bridge here: {e}")
    try:
        for t in taps:
            _ip("tuntap", "add", "dev", t, "mode", "tap", "user", str(os.getuid()))
            _ip("link", "set", t, "master", br)
            _ip("link", "set", t, "up")
        _ip("link", "set", br, "up")
        yield taps
    finally:
        for t in taps:
            subprocess.run(["ip", "link", "del", t], capture_output=True)
        subprocess.run(["ip", "link", "del", br], capture_output=True)


def test_net_two_vms_on_a_bridge(linux, bridge):
    """Two VMs, each on a tap of one bridge: they ping each other and one
    fetches the other's 1 MiB file with the checksum equal."""
    _need_net()
    (va, sa), (vb, sb) = (linux("--net", f"tap={t}", cpus=1) for t in bridge)
    sa.out("ip addr add 192.168.79.2/24 dev eth0 && ip link set eth0 up")
    sb.out("ip addr add 192.168.79.3/24 dev eth0 && ip link set eth0 up")
    sa.out("httpd -p 8080 -h /data")
    sb.out("ping -c 3 -W 5 192.168.79.2", timeout=60)
    got = sb.out("wget -q -O - http://192.168.79.2:8080/blob | sha256sum", timeout=120)
    assert got.split()[0] == hashlib.sha256(BLOB).hexdigest()
    sa.out("ping -c 1 -W 5 192.168.79.3", timeout=30)
