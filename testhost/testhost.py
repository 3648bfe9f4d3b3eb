#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""glue's KVM test host: runs one command where /dev/kvm is real.

On machines without a usable /dev/kvm, a Debian kernel is booted under QEMU's
software CPU with AMD SVM emulated (-cpu max), where kvm_amd loads and gives a
real /dev/kvm. The command then runs there, in the same working directory
with the same environment and user, and its output and exit status come
back. See testhost/README.md.

    scripts/testhost kvm                      # can KVM be used natively here? (exit 0: yes)
    scripts/testhost run [-t S] [--rw DIR] -- COMMAND [ARG...]
    scripts/testhost image                    # build (or find) the cached image, print it

Exit status of `run`: the command's, or 124 (it ran past --timeout), 125 (the
test host itself failed: did not boot, froze, crashed), 128+N (a signal).
"""

import argparse
import errno
import fcntl
import hashlib
import os
import re
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time
import tty
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import images  # noqa: E402

HERE = Path(__file__).resolve().parent
EXIT_TIMEOUT = 124
EXIT_HOST = 125

# What the test host loads (testhost/init insmods them in this order, with
# their dependencies first).
L1_MODULES = ["virtio_pci", "virtio_console", "virtio_rng", "9pnet_virtio", "9p", "overlay",
              "kvm_amd", "tun", "vhost_net", "vhost_vsock", "veth", "bridge", "loop"]

# The L1 kernel: quiet, no reboot loop on panic, nothing slow at boot. Its
# clock and timers stay off the TSC: glue sets each new vCPU's TSC, i.e. a
# TSC offset for the nested guest, and with the TSC as clocksource and
# TSC-deadline timer the test host's clock crawled and then froze for good
# (halted, its next timer never firing) some 20 minutes into the suite.
L1_CMDLINE = ("console=ttyS0 loglevel=4 panic=-1 oops=panic mitigations=off nokaslr "
              "random.trust_cpu=on clocksource=hpet tsc=unstable lapic=notscdeadline i8042.noaux 8250.nr_uarts=1 rdinit=/init")

# The relay pings the test host this often: single-threaded TCG with nested
# SVM loses a timer interrupt now and then (a nested guest doing many port
# I/O exits triggers it within a minute), and the test host then halts for
# good waiting for it; any interrupt, such as a byte on the control port,
# gets it going again. A heartbeat late by STALL_S makes the relay look
# whether it is halted anyway.
PING_S = 1
STALL_S = 10

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01


def log(msg):
    print(f"glue-testhost: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Is KVM usable here?


def kvm_status():
    """(usable, reason): asks KVM itself (open /dev/kvm, check the API
    version, create a VM), never CPU flags. A KVM that is PVM (kvm_pvm runs
    ordinary guests through its instruction emulator, far too slow for a
    Linux guest) counts as not usable for testing."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return False, f"cannot open /dev/kvm: {e.strerror}"
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
        if version != 12:
            return False, f"/dev/kvm speaks KVM API {version}, not 12"
        try:
            vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        except OSError as e:
            return False, f"/dev/kvm opens but cannot create a VM: {e.strerror}"
        os.close(vm)
    finally:
        os.close(fd)
    mods = set(os.listdir("/sys/module")) if os.path.isdir("/sys/module") else set()
    if "kvm_pvm" in mods and not {"kvm_intel", "kvm_amd"} & mods:
        return False, ("/dev/kvm is PVM's (kvm_pvm), which runs guests through an instruction "
                       "emulator: too slow for Linux guests")
    return True, "/dev/kvm works"


def want_testhost():
    """(use_testhost, reason) from $GLUE_TESTHOST (auto|always|never) and KVM."""
    mode = os.environ.get("GLUE_TESTHOST", "auto") or "auto"
    if mode not in ("auto", "always", "never"):
        raise SystemExit(f"glue-testhost: GLUE_TESTHOST={mode}: use auto, always or never")
    ok, why = kvm_status()
    if mode == "always":
        return True, "GLUE_TESTHOST=always"
    if mode == "never":
        return False, f"GLUE_TESTHOST=never ({why})"
    return not ok, why


# ---------------------------------------------------------------------------
# The image: a Debian kernel and an initramfs with busybox, modules, /init


class Image:
    def __init__(self, kernel, initrd, release):
        self.kernel = kernel
        self.initrd = initrd
        self.release = release


def image(verbose=False):
    """The cached test-host image, built if the kernel package, the init
    script, the module list or busybox changed."""
    say = log if verbose else (lambda s: None)
    kern = images.kernel("generic", log=log)
    init = (HERE / "init").read_bytes()
    bb = images.busybox()
    h = hashlib.sha256()
    for part in (kern.key.encode(), init, " ".join(L1_MODULES).encode(), bb.read_bytes(),
                 (HERE / "images.py").read_bytes()):
        h.update(hashlib.sha256(part).digest())
    d = images.cache_root() / "testhost" / h.hexdigest()[:16]
    initrd = d / "initramfs.cpio"
    if not initrd.is_file():
        d.mkdir(parents=True, exist_ok=True)
        with images.Lock(d / ".lock"):
            if not initrd.is_file():
                say(f"building the test host image for {kern.package} in {d}")
                cpio = images.busybox_cpio(init, L1_MODULES, kern)
                tmp = initrd.with_suffix(".tmp")
                tmp.write_bytes(cpio.bytes())
                os.replace(tmp, initrd)
    return Image(kern.vmlinux, initrd, kern.release)


def qemu_binary():
    q = shutil.which("qemu-system-x86_64")
    if not q:
        raise images.Unavailable("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
    return q


def check_qemu_version():
    """Debian's QEMU before 7.2+dfsg-7+deb12u9 lacks nested-paging fixes."""
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "qemu-system-x86"],
                       capture_output=True, text=True)
    if r.returncode == 0 and r.stdout:
        bad = subprocess.run(["dpkg", "--compare-versions", r.stdout, "lt", "1:7.2+dfsg-7+deb12u9"])
        if bad.returncode == 0:
            log(f"warning: qemu-system-x86 {r.stdout} is older than 1:7.2+dfsg-7+deb12u9, whose "
                "nested-paging fixes the test host needs")


# ---------------------------------------------------------------------------
# Running one command


def _quote(s):
    return shlex.quote(str(s))


def _job_files(job, argv, cwd, env, rw, use_tty, rows, cols):
    uid, gid = os.getuid(), os.getgid()
    cfg = [f"UID_={uid}", f"GID_={gid}", f"TTY={1 if use_tty else 0}", f"ROWS={rows}",
           f"COLS={cols}", f"RW_COUNT={len(rw)}",
           f"RUNTIME_DIR={_quote(env.get('XDG_RUNTIME_DIR', ''))}"]
    cfg += [f"RW_{i}={_quote(d)}" for i, d in enumerate(rw)]
    (job / "config").write_text("\n".join(cfg) + "\n")
    cmd = [f"cd {_quote(cwd)} || exit 127"]
    run = ["/usr/bin/env", "-i"] + [f"{k}={v}" for k, v in env.items()]
    if uid != 0:
        groups = ",".join(str(g) for g in os.getgroups() if g != gid)
        run += ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
        run += [f"--groups={groups}"] if groups else ["--clear-groups"]
        run += ["--"]
    run += list(argv)
    cmd.append("exec " + " ".join(_quote(a) for a in run))
    (job / "command").write_text("\n".join(cmd) + "\n")


def _pdeathsig():
    """In the QEMU child: die with the parent, so no QEMU outlives us."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        os._exit(1)


class Run:
    """One test-host run. run() returns the exit status (see the module doc)."""

    def __init__(self, argv, cwd=None, env=None, rw=None, timeout=0, watchdog=60, boot_timeout=180,
                 mem=10240, cpus=1, verbose=False, stdin=0, stdout=1, stderr=2):
        self.argv = list(argv)
        self.cwd = os.path.abspath(cwd or os.getcwd())
        self.env = dict(os.environ if env is None else env)
        self.env["GLUE_TESTHOST_INSIDE"] = "1"
        self.rw = [os.path.abspath(d) for d in (rw if rw is not None else [self.cwd])]
        self.timeout = timeout
        self.watchdog = watchdog
        self.boot_timeout = boot_timeout
        self.mem, self.cpus = mem, cpus
        self.verbose = verbose
        self.fd_in, self.fd_out, self.fd_err = stdin, stdout, stderr
        self.use_tty = os.isatty(stdin) and os.isatty(stdout)
        self.qemu = None
        self.status = None
        self.failure = None
        self.signalled = None

    # -- setup ---------------------------------------------------------------
    def _listen(self, name):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = str(self.tmp / f"{name}.sock")
        s.bind(path)
        s.listen(1)
        return s, path

    def _qemu_cmd(self, img, socks):
        shares = [("host", "/", True), ("job", str(self.job), False)]
        shares += [(f"rw{i}", d, False) for i, d in enumerate(self.rw)]
        # Single-threaded TCG: with multi-threaded TCG the test host froze
        # after ~50 VM runs (testhost/README.md).
        cmd = [qemu_binary(), "-accel", "tcg,thread=single", "-cpu", "max", "-smp", str(self.cpus),
               "-m", str(self.mem), "-nodefaults", "-no-user-config", "-display", "none",
               "-no-reboot", "-kernel", str(img.kernel), "-initrd", str(img.initrd),
               "-append", L1_CMDLINE, "-serial", f"file:{self.console}",
               "-device", "virtio-rng-pci", "-device", "virtio-serial-pci,id=vs",
               # For the report on a frozen test host (see _diagnose).
               "-monitor", f"unix:{self.tmp}/monitor.sock,server=on,wait=off"]
        for tag, path, ro in shares:
            cmd += ["-virtfs", f"local,path={path},mount_tag={tag},security_model=none,"
                    f"multidevs=remap{',readonly=on' if ro else ''}"]
        for name, path in socks.items():
            cmd += ["-chardev", f"socket,id=c_{name},path={path}"]
            kind = "virtconsole" if name == "io" else "virtserialport"
            cmd += ["-device", f"{kind},bus=vs.0,chardev=c_{name},name=glue.{name}"]
        return cmd

    def _check_args(self):
        for d in self.rw:
            if d == "/":
                raise images.Unavailable("the host's / cannot be a writable share: run from a "
                                         "project directory or name one with --rw")
            if not os.path.isdir(d):
                raise images.Unavailable(f"writable share {d} is not a directory")
        if not os.path.isdir(self.cwd):
            raise images.Unavailable(f"working directory {self.cwd} does not exist")

    # -- the relay -------------------------------------------------------------
    def run(self):
        try:
            self._check_args()
            img = image(self.verbose)
            check_qemu_version()
        except images.Unavailable as e:
            log(str(e))
            return EXIT_HOST
        # Short paths: the sockets' must fit in sun_path.
        self.tmp = Path(tempfile.mkdtemp(prefix="glue-th-",
                                         dir=os.environ.get("GLUE_TESTHOST_TMPDIR", "/tmp")))
        self.job = self.tmp / "job"
        self.job.mkdir()
        self.console = self.tmp / "console.log"
        saved_tty = None
        old_handlers = {}
        try:
            rows, cols = 24, 80
            if self.use_tty:
                cols, rows = os.get_terminal_size(self.fd_out)
            _job_files(self.job, self.argv, self.cwd, self.env, self.rw, self.use_tty, rows, cols)
            names = ["ctl"] + (["io"] if self.use_tty else ["stdin", "stdout", "stderr"])
            listeners = {n: self._listen(n) for n in names}
            cmd = self._qemu_cmd(img, {n: p for n, (s, p) in listeners.items()})
            if self.verbose:
                log("starting " + " ".join(_quote(c) for c in cmd))
            self.qemu_log = open(self.tmp / "qemu.log", "w+b")
            self.qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.qemu_log,
                                         stderr=subprocess.STDOUT, preexec_fn=_pdeathsig,
                                         start_new_session=True)
            self.started = time.monotonic()
            self.conns = {}
            for n, (s, _) in listeners.items():
                s.settimeout(30)
                try:
                    self.conns[n], _ = s.accept()
                except socket.timeout:
                    self.failure = f"QEMU did not connect its {n} port: {self._qemu_tail()}"
                    return EXIT_HOST
                finally:
                    s.close()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGWINCH):
                old_handlers[sig] = signal.signal(sig, self._on_signal)
            if self.use_tty:
                saved_tty = termios.tcgetattr(self.fd_in)
                tty.setraw(self.fd_in)
            return self._relay()
        finally:
            if saved_tty is not None:
                termios.tcsetattr(self.fd_in, termios.TCSADRAIN, saved_tty)
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            self._stop_qemu()
            if self.failure:
                log(self.failure)
                if not self.verbose:  # -v showed the console already
                    self._console_tail()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _on_signal(self, sig, frame):
        if sig == signal.SIGWINCH:
            if self.use_tty:
                cols, rows = os.get_terminal_size(self.fd_out)
                self._send(f"WINCH {rows} {cols}")
            return
        if self.signalled is None:
            self.signalled = sig
            self.grace = time.monotonic() + 10
            self._send(f"SIGNAL {signal.Signals(sig).name[3:]}")
        else:
            self.grace = 0  # a second signal: stop now

    def _send(self, line):
        try:
            self.conns["ctl"].sendall((line + "\n").encode())
        except OSError:
            pass

    def _relay(self):
        sel = selectors.DefaultSelector()
        outs = {"stdout": self.fd_out, "stderr": self.fd_err, "io": self.fd_out}
        for n, c in self.conns.items():
            c.setblocking(False)
            if n != "stdin":
                sel.register(c, selectors.EVENT_READ, n)
        stdin_open = "stdin" in self.conns or "io" in self.conns
        if stdin_open:
            try:
                sel.register(self.fd_in, selectors.EVENT_READ, "host-stdin")
            except (ValueError, PermissionError, OSError):
                # /dev/null or a regular file (epoll refuses them): EOF at once
                # unless it is a file with content, which is then sent whole.
                data = b""
                try:
                    data = os.read(self.fd_in, 1 << 20) if not os.isatty(self.fd_in) else b""
                except OSError:
                    pass
                if data and "stdin" in self.conns:
                    self.conns["stdin"].setblocking(True)
                    self.conns["stdin"].sendall(data)
                self._close_stdin()
                stdin_open = False
        ctl_buf = b""
        booted = ready = False
        self.kicks, self.stall_seen_at, self.pinged_at = 0, 0.0, 0.0
        last_hb = time.monotonic()
        console_pos = 0
        self.grace = None
        while True:
            now = time.monotonic()
            if self.signalled is not None and self.grace is not None and now >= self.grace:
                self.failure = None
                return 128 + self.signalled
            if self.timeout and ready and now - self.ready_at > self.timeout and self.signalled is None:
                log(f"the command ran past its {self.timeout} s timeout; stopping it")
                self.timed_out = True
                self.signalled = signal.SIGTERM
                self.grace = now + 10
                self._send("SIGNAL TERM")
            if not booted and now - self.started > self.boot_timeout:
                self.failure = f"the test host did not boot within {self.boot_timeout} s"
                return EXIT_HOST
            if booted and self.watchdog and now - last_hb > self.watchdog:
                self.failure = (f"the test host froze: no heartbeat for {self.watchdog:g} s "
                                f"(this is the test host failing, not the command); "
                                f"{self._stalled()[1]}"
                                + (f"; found halted {self.kicks} times" if self.kicks else ""))
                return EXIT_HOST
            if booted and now - self.pinged_at > PING_S:
                # Any interrupt wakes a test host whose timer interrupt TCG lost.
                self._send("PING")
                self.pinged_at = now
            if booted and now - last_hb > STALL_S and now - self.stall_seen_at > STALL_S:
                stalled, what = self._stalled()
                self.stall_seen_at = time.monotonic()
                if stalled:
                    self.kicks += 1
                    log(f"no heartbeat for {now - last_hb:.0f} s and {what}")
            if self.qemu.poll() is not None:
                self._drain(sel, outs)
                if self.status is not None:
                    return self._final()
                self.failure = (f"the test host ended (QEMU status {self.qemu.returncode}) without "
                                f"reporting the command's exit status: {self._qemu_tail()}")
                return EXIT_HOST
            if self.verbose:
                console_pos = self._stream_console(console_pos)
            for key, _ in sel.select(0.5):
                name = key.data
                if name == "host-stdin":
                    try:
                        data = os.read(self.fd_in, 65536)
                    except OSError:
                        data = b""
                    dst = self.conns.get("io") or self.conns.get("stdin")
                    if not data:
                        sel.unregister(self.fd_in)
                        if "stdin" in self.conns:
                            self._close_stdin()
                        continue
                    try:
                        dst.setblocking(True)
                        dst.sendall(data)
                        dst.setblocking(False)
                    except OSError:
                        sel.unregister(self.fd_in)
                    continue
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                if name == "ctl":
                    last_hb = time.monotonic()
                    ctl_buf += data
                    while b"\n" in ctl_buf:
                        line, ctl_buf = ctl_buf.split(b"\n", 1)
                        word, _, rest = line.decode(errors="replace").partition(" ")
                        if word == "BOOTED":
                            booted = True
                        elif word == "READY":
                            ready, self.ready_at = True, time.monotonic()
                            if self.verbose:
                                log(f"ready after {self.ready_at - self.started:.1f} s "
                                    f"(L1 uptime {rest} s); running {' '.join(self.argv)}")
                        elif word == "EXIT":
                            self.status = int(rest)
                        elif word == "FAIL":
                            self.failure = f"the test host could not start the command: {rest}"
                else:
                    self._write(outs[name], data)

    def _close_stdin(self):
        # Half-close: QEMU reads what is still queued, then sees EOF and
        # tells the guest. A full close raises HUP at QEMU, which drops the
        # port at once with any unread data (a short stdin was lost so).
        c = self.conns.pop("stdin", None)
        if c:
            try:
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.stdin_closed = c  # closed with the rest when the run ends

    def _write(self, fd, data):
        try:
            while data:
                n = os.write(fd, data)
                data = data[n:]
        except BlockingIOError:
            time.sleep(0.01)
            self._write(fd, data)
        except OSError as e:
            if e.errno != errno.EPIPE:
                raise

    def _drain(self, sel, outs):
        for key in list(sel.get_map().values()):
            if key.data in outs:
                while True:
                    try:
                        data = key.fileobj.recv(65536)
                    except OSError:
                        break
                    if not data:
                        break
                    self._write(outs[key.data], data)

    def _final(self):
        if getattr(self, "timed_out", False):
            return EXIT_TIMEOUT
        if self.signalled is not None:
            return 128 + self.signalled
        return self.status

    def _stop_qemu(self):
        if self.qemu is None:
            return
        if self.qemu.poll() is None:
            # The guest powers itself off after EXIT; give it a moment.
            try:
                self.qemu.wait(3 if self.status is not None else 0.1)
            except subprocess.TimeoutExpired:
                pass
        if self.qemu.poll() is None:
            try:
                os.killpg(self.qemu.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.qemu.wait()

    def _monitor(self, commands):
        """Send HMP commands to QEMU's monitor; return its reply."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as m:
            m.settimeout(5)
            m.connect(str(self.tmp / "monitor.sock"))
            m.sendall("".join(c + "\n" for c in commands).encode())
            time.sleep(0.5)
            return m.recv(65536).decode(errors="replace")

    def _qemu_cpu_percent(self):
        def cpu():
            with open(f"/proc/{self.qemu.pid}/stat") as f:
                v = f.read().rsplit(")", 1)[1].split()
            return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
        c0 = cpu()
        time.sleep(1)
        return 100 * (cpu() - c0)

    def _stalled(self):
        """(True, what) when the test host is halted with nothing to do: its
        vCPU in HLT, QEMU idle. Single-threaded TCG with nested SVM loses an
        interrupt now and then (seen every 5-25 minutes of the suite): the
        test host then waits forever for a timer that never fires."""
        try:
            busy = self._qemu_cpu_percent()
            regs = self._monitor(["info registers"])
        except (OSError, ValueError, IndexError) as e:
            return False, f"cannot ask QEMU ({e})"
        halted = "HLT=1" in regs
        rip = re.search(r"RIP=(\S+)", regs)
        what = (f"QEMU used {busy:.0f}% of a CPU over the last second; vCPU "
                f"{'halted' if halted else 'running'} at RIP {rip.group(1) if rip else '?'}")
        return halted and busy < 20, what

    def _qemu_tail(self):
        try:
            self.qemu_log.seek(0)
            text = self.qemu_log.read().decode(errors="replace").strip()
        except (OSError, AttributeError):
            text = ""
        return text[-2000:] or "(QEMU printed nothing)"

    def _console_tail(self, lines=40):
        try:
            text = self.console.read_text(errors="replace")
        except OSError:
            return
        tail = "\n".join(text.rstrip().splitlines()[-lines:])
        print(f"--- last lines of the test host's console ---\n{tail}\n---", file=sys.stderr)

    def _stream_console(self, pos):
        try:
            with open(self.console, "rb") as f:
                f.seek(pos)
                data = f.read()
        except OSError:
            return pos
        if data:
            sys.stderr.buffer.write(data)
            sys.stderr.flush()
        return pos + len(data)


def run(argv, **kw):
    """Run argv in the test host; return its exit status (see the module doc)."""
    return Run(argv, **kw).run()


def run_captured(argv, cwd=None, env=None, timeout=0, rw=()):
    """subprocess.run(argv, capture_output=True, text=True) inside the test
    host: returns a CompletedProcess. stdin is /dev/null; rw: writable shares
    (default none: every write lands in the test host's tmpfs)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            open(os.devnull, "rb") as null:
        rc = run(argv, cwd=cwd, env=env, timeout=timeout, rw=list(rw), stdin=null.fileno(),
                 stdout=out.fileno(), stderr=err.fileno())
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, rc, out.read().decode(errors="replace"),
                                           err.read().decode(errors="replace"))


def inside():
    """Whether this process runs inside the test host."""
    return os.environ.get("GLUE_TESTHOST_INSIDE") == "1"


def needed():
    """Whether commands that need KVM must go through the test host."""
    if inside():
        return False
    return want_testhost()[0]


def main():
    ap = argparse.ArgumentParser(prog="testhost", description="glue's KVM test host (QEMU TCG with "
                                 "nested SVM) for machines without a usable /dev/kvm")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("kvm", help="say whether KVM works natively here (exit 0) or not (exit 1)")
    sub.add_parser("want", help="say whether KVM work goes to the test host here (exit 0) or "
                   "runs natively (exit 1), after $GLUE_TESTHOST (auto|always|never)")
    sub.add_parser("image", help="build or find the cached image and print its files")
    r = sub.add_parser("run", help="run a command in the test host")
    r.add_argument("-t", "--timeout", type=float, default=0,
                   help="stop the command after this many seconds (exit 124); 0: none")
    r.add_argument("--watchdog", type=float, default=60,
                   help="seconds without a heartbeat before the host counts as frozen (exit 125)")
    r.add_argument("--rw", action="append", metavar="DIR",
                   help="a directory whose writes reach the host (repeatable; default: the "
                        "working directory). Everything else is read-only, writes land in a tmpfs")
    r.add_argument("-C", "--cwd", help="working directory (default: the current one)")
    r.add_argument("-m", "--mem", type=int, default=10240,
                   help="test host memory in MiB (allocated as used; default 10240: guests of "
                        "8 GiB fit)")
    r.add_argument("-c", "--cpus", type=int, default=1,
                   help="test host vCPUs (default 1: with 2, nested guests with several vCPUs "
                        "hung at boot now and then; TCG runs one thread anyway)")
    r.add_argument("-v", "--verbose", action="store_true", help="show the test host's console")
    r.add_argument("argv", nargs=argparse.REMAINDER)
    args = ap.parse_args()

    if args.cmd == "kvm":
        ok, why = kvm_status()
        print(why)
        return 0 if ok else 1
    if args.cmd == "want":
        use, why = want_testhost()
        print(why)
        return 0 if use else 1
    if args.cmd == "image":
        try:
            img = image(verbose=True)
        except images.Unavailable as e:
            log(str(e))
            return EXIT_HOST
        print(f"kernel {img.kernel}\ninitrd {img.initrd}")
        return 0
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        ap.error("run: no command given")
    cwd = os.path.abspath(args.cwd) if args.cwd else os.getcwd()
    return run(argv, cwd=cwd, rw=args.rw if args.rw else [cwd], timeout=args.timeout,
               watchdog=args.watchdog, mem=args.mem, cpus=args.cpus, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
