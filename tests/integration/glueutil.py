# SPDX-License-Identifier: MIT
"""Helpers shared by the integration tests: where things are, running glue,
and a VM object that talks to a guest's serial console."""

import codecs
import glob
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("GLUE_SOURCE_DIR", HERE.parent.parent)).resolve()

sys.path.insert(0, str(SOURCE_DIR / "testhost"))
import testhost  # noqa: E402

# Messages that mean the VMM itself went wrong, whatever its exit status.
CRASH_MARKERS = (
    "AddressSanitizer",
    "LeakSanitizer",
    "UndefinedBehaviorSanitizer",
    "runtime error:",
    "Segmentation fault",
    "core dumped",
    "Aborted",
    "Traceback",
    "assertion failed",
    "Assertion `",
)


def build_dir():
    """The meson build directory under test: $GLUE_BUILD_DIR, else <src>/build."""
    d = os.environ.get("GLUE_BUILD_DIR")
    return Path(d).resolve() if d else SOURCE_DIR / "build"


def glue_binary():
    return build_dir() / "cli" / "glue"


def guest_dir():
    return build_dir() / "tests" / "guest"


def guest_image(kind="elf"):
    """kind: 'elf', 'elf32' (the same guest in an ELF32 container), 'bzImage' (gzip), or a compressor / 'nopayload' for
    glue-test-guest-<kind>.bzImage."""
    if kind == "elf":
        return guest_dir() / "glue-test-guest.elf"
    if kind == "elf32":
        return guest_dir() / "glue-test-guest-elf32.elf"
    if kind == "bzImage":
        return guest_dir() / "glue-test-guest.bzImage"
    return guest_dir() / f"glue-test-guest-{kind}.bzImage"


def sanitized():
    return os.environ.get("GLUE_SANITIZED", "") not in ("", "0")


def build_config():
    """The GLUE_HAVE_* switches of the build under test, from <glue/config.h>."""
    cfg = {}
    path = build_dir() / "include" / "glue" / "config.h"
    try:
        text = path.read_text()
    except OSError:
        return cfg
    for m in re.finditer(r"#define\s+GLUE_HAVE_(\w+)\s+(\d+)", text):
        cfg[m.group(1).lower()] = m.group(2) != "0"
    return cfg


def have(component):
    """Whether the build under test has a component (default: yes if unknown)."""
    return build_config().get(component, True)


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF


# ---------------------------------------------------------------------------
# Running glue


class Timeouts:
    """Timeouts scaled for the host: tests give the bound that fits hardware
    KVM; an emulated KVM (PVM: guest code through the instruction emulator)
    and sanitizer builds stretch it."""

    def __init__(self, emulated):
        self.emulated = emulated
        # Inside the test host guest code runs at TCG speed, and every exit
        # costs a world switch of the emulated SVM.
        speed = 6.0 if emulated else 3.0 if testhost.inside() else 1.0
        self.factor = speed * (3.0 if sanitized() else 1.0)

    def __call__(self, seconds):
        return seconds * self.factor


def kvm_run(argv, timeout, env=None, cwd=None, rw=()):
    """subprocess.run(argv, capture_output=True, text=True) for a command
    that needs KVM: natively where KVM works (or already inside the test
    host), else inside the test host (scripts/testhost), where only the
    directories in rw are written back. stdin is /dev/null."""
    argv = [str(a) for a in argv]
    if not testhost.needed():
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=cwd, stdin=subprocess.DEVNULL)
    r = testhost.run_captured(argv, cwd=cwd, env=env, timeout=timeout, rw=rw)
    if r.returncode == testhost.EXIT_TIMEOUT:
        raise subprocess.TimeoutExpired(argv, timeout, r.stdout, r.stderr)
    if r.returncode == testhost.EXIT_HOST:
        pytest.fail(f"the test host failed running {' '.join(argv)}:\n{r.stderr[-3000:]}")
    return r


def runtime_env(rundir, extra=None):
    env = dict(os.environ)
    env["XDG_RUNTIME_DIR"] = str(rundir)
    # Sanitizer builds: report, don't hide; abort so a bad exit is visible.
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if extra:
        env.update(extra)
    return env


def check_stderr_clean(stderr, what=""):
    """Fail if the VMM's stderr shows a crash or sanitizer report."""
    for marker in CRASH_MARKERS:
        if marker in stderr:
            pytest.fail(f"{what}: glue's stderr shows '{marker}':\n{stderr}")


def error_lines(stderr):
    """Non-empty stderr lines that are not the "Try 'glue ... --help'" hint."""
    return [l for l in stderr.splitlines() if l.strip() and not re.match(r"^Try 'glue", l)]


class VM:
    """One `glue run` process with its serial console on pipes.

    .log is the console output so far (text, CRLF folded to LF), .raw the
    bytes; .stderr glue's own messages. expect() searches the output that
    follows the previous expect()'s match, so successive calls walk forward.
    """

    def __init__(self, args, env, timeouts, name=None, stdin=True):
        self.args = [str(a) for a in args]
        self.name = name
        self.t = timeouts
        self._raw = bytearray()
        self._text = []  # decoded console output, CRs dropped, in chunks
        self._err = bytearray()
        self._lock = threading.Lock()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pos = 0
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group: killed as one
        )
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self._raw), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self._err), daemon=True),
        ]
        for th in self._threads:
            th.start()

    def _pump(self, f, buf):
        console = buf is self._raw
        while True:
            try:
                chunk = os.read(f.fileno(), 65536)
            except OSError:
                chunk = b""
            if not chunk:
                if console:
                    with self._lock:
                        self._text.append(self._decoder.decode(b"", final=True))
                return
            with self._lock:
                buf += chunk
                if console:
                    self._text.append(self._decoder.decode(chunk).replace("\r", ""))

    # -- output -------------------------------------------------------------
    @property
    def raw(self):
        with self._lock:
            return bytes(self._raw)

    @property
    def log(self):
        with self._lock:
            if len(self._text) > 1:
                self._text[:] = ["".join(self._text)]
            return self._text[0] if self._text else ""

    @property
    def stderr(self):
        with self._lock:
            return bytes(self._err).decode("utf-8", "replace")

    def report(self):
        """The serial log and stderr, for failure messages."""
        rc = self.proc.poll()
        tail = self.log
        if len(tail) > 12000:
            tail = "[...]\n" + tail[-12000:]
        return (
            f"command: {' '.join(self.args)}\n"
            f"exit status: {rc if rc is not None else 'still running'}\n"
            f"--- serial log ---\n{tail}\n--- glue stderr ---\n{self.stderr}\n---"
            + (self._threads_now() if rc is None else "")
        )

    def _threads_now(self):
        """Where each of glue's threads is (state, kernel wait channel): for a
        VM that stopped making progress, whether glue waits on itself (futex)
        or its vCPUs are in the guest (KVM_RUN)."""
        out = []
        for t in sorted(glob.glob(f"/proc/{self.proc.pid}/task/*")):
            try:
                with open(t + "/comm") as f:
                    comm = f.read().strip()
                with open(t + "/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open(t + "/wchan") as f:
                    wchan = f.read().strip()
            except OSError:
                continue
            out.append(f"{os.path.basename(t)} {comm}: {state} {wchan}")
        return "\n--- glue threads ---\n" + "\n".join(out) + "\n---" if out else ""

    def expect(self, regex, timeout=10, flags=re.M, partial=False):
        """Wait until regex matches the output after the last match; return
        the match. Only complete lines are searched (so `(.*)$` gets the whole
        line), unless partial (prompts). timeout is scaled for the host.
        Fails the test with the log on timeout or if the VM exits first."""
        rx = re.compile(regex, flags)
        deadline = time.monotonic() + self.t(timeout)
        seen = -1
        while True:
            # The pump may deliver one byte at a time: poll, don't rescan per byte.
            exited = self.proc.poll() is not None and not self._threads[0].is_alive()
            text = self.log
            if not partial and not exited:
                text = text[: text.rfind("\n") + 1]
            if len(text) != seen:
                seen = len(text)
                m = rx.search(text, self._pos)
                if m:
                    self._pos = m.end()
                    return m
            if exited:
                pytest.fail(f"VM exited before printing /{regex}/\n{self.report()}")
            if time.monotonic() >= deadline:
                pytest.fail(
                    f"timed out after {self.t(timeout):.0f} s waiting for /{regex}/\n"
                    f"{self.report()}"
                )
            time.sleep(0.02)

    def expect_line(self, prefix, timeout=10):
        """The rest of the next line that starts with prefix (exact text)."""
        return self.expect(r"^" + re.escape(prefix) + r"(.*)$", timeout).group(1)

    def send(self, text):
        data = text.encode() if isinstance(text, str) else text
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    # -- lifetime -----------------------------------------------------------
    def wait_exit(self, timeout=10):
        """Wait for glue to exit; return its status. Fails the test (with the
        log) if it does not exit in time. Checks stderr for crash reports."""
        try:
            rc = self.proc.wait(self.t(timeout))
        except subprocess.TimeoutExpired:
            pytest.fail(f"glue did not exit within {self.t(timeout):.0f} s\n{self.report()}")
        for th in self._threads:
            th.join(5)
        check_stderr_clean(self.stderr, "glue run")
        if rc < 0:
            pytest.fail(f"glue was killed by signal {-rc}\n{self.report()}")
        return rc

    def running(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def kill(self):
        """SIGKILL the whole process group and reap it."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        # The group may outlive its leader (a helper it forked): kill it too.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if f:
                    f.close()
            except OSError:
                pass


def parse_tests(log):
    """{name: (PASS|FAIL, {key: value}, detail)} from `TEST <name> ...` lines."""
    out = {}
    for m in re.finditer(r"^TEST (\S+) (PASS|FAIL)(.*)$", log, re.M):
        detail = m.group(3).strip()
        kv = dict(re.findall(r"(\w+)=(\S*)", detail))
        out[m.group(1)] = (m.group(2), kv, detail)
    return out


def parse_e820(log):
    """[(base, size, type)] from the guest's `E820 <base> <size> <type>` lines."""
    out = []
    for m in re.finditer(r"^E820 (?:0x)?([0-9a-fA-F]+) (?:0x)?([0-9a-fA-F]+) (\d+)", log, re.M):
        out.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(3))))
    return out


# ---------------------------------------------------------------------------
# Tiny hand-made ELF kernels (for the host-speed probe and loader edge cases)


def make_pvh_elf(code, load=0x100000, entry_off=0, note=True, phdr_extra=None, elf64_entry=None):
    """An ELF64 x86-64 executable: one PT_LOAD of `code` at physical `load`,
    and (if note) a Xen PVH PHYS32_ENTRY note pointing at load+entry_off.
    phdr_extra: list of (p_type, offset, vaddr, paddr, filesz, memsz) added."""
    ehsize, phentsize = 64, 56
    phdrs = [None]
    if note:
        phdrs.append(None)
    for p in phdr_extra or []:
        phdrs.append(p)
    ph_off = ehsize
    data_off = ph_off + phentsize * len(phdrs)
    notedata = b""
    if note:
        desc = struct.pack("<Q", load + entry_off)
        notedata = struct.pack("<III", 4, len(desc), 18) + b"Xen\0" + desc
    note_off = data_off
    code_off = (note_off + len(notedata) + 15) & ~15
    entry = elf64_entry if elf64_entry is not None else load + entry_off
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    hdr = ident + struct.pack(
        "<HHIQQQIHHHHHH", 2, 62, 1, entry, ph_off, 0, 0, ehsize, phentsize, len(phdrs), 64, 0, 0
    )
    ph = [struct.pack("<IIQQQQQQ", 1, 7, code_off, load, load, len(code), len(code), 0x1000)]
    if note:
        ph.append(struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(notedata), len(notedata), 4))
    for p_type, off, vaddr, paddr, filesz, memsz in phdr_extra or []:
        ph.append(struct.pack("<IIQQQQQQ", p_type, 7, off, vaddr, paddr, filesz, memsz, 0x1000))
    img = hdr + b"".join(ph)
    img += notedata
    img += b"\0" * (code_off - len(img))
    img += code
    return img


def spin_then_reset_code(iterations):
    """32-bit code: spin `iterations` times, then reset through the i8042."""
    code = b""
    code += b"\xb9" + struct.pack("<I", iterations)  # mov ecx, N
    code += b"\x85\xc9"  # test ecx, ecx
    code += b"\x74\x03"  # jz +3 (skip the loop)
    code += b"\x49"  # dec ecx (32-bit: 0x49 is dec ecx)
    code += b"\x75\xfd"  # jnz -3
    code += b"\xb0\xfe"  # mov al, 0xfe
    code += b"\xe6\x64"  # out 0x64, al
    code += b"\xfa\xf4"  # cli; hlt
    code += b"\xeb\xfc"  # jmp back to cli
    return code
