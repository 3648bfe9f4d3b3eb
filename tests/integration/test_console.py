# SPDX-License-Identifier: MIT
"""basic: the serial console on a real terminal (a pty): raw mode, the
Ctrl-a escape, and the terminal restored afterwards."""

import contextlib
import os
import pty
import re
import select
import signal
import termios
import time

import glueutil


def _read_until(fd, pattern, timeout):
    """Read from fd until pattern (bytes regex) matches; return everything."""
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
        if re.search(pattern, buf):
            return buf
    raise AssertionError(f"{pattern!r} not seen in {timeout:.0f} s; terminal output:\n"
                         + buf.decode(errors="replace"))


def _spawn_on_pty(cmd, env):
    """Run cmd with a pty as its stdin/stdout/stderr; returns (pid, master fd)."""
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.execve(cmd[0], cmd, env)
        finally:
            os._exit(127)
    return pid, master


@contextlib.contextmanager
def _glue_on_pty(cmd, env):
    """glue on a pty; yields (pid, master fd); kills and reaps it at the end."""
    pid, master = _spawn_on_pty(cmd, env)
    try:
        yield pid, master
    finally:
        os.close(master)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _wait(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"glue did not exit within {timeout:.0f} s")


def test_tty_escape_quits_and_restores_terminal(glue_bin, guest, rundir, timeouts):
    cmd = [str(glue_bin), "run", "-k", str(guest("elf")), "-p", "glue.test=ticker"]
    with _glue_on_pty(cmd, glueutil.runtime_env(rundir)) as (pid, master):
        _read_until(master, rb"TICK 1", timeouts(20))
        # glue put the terminal into raw mode: no echo, no line editing.
        attrs = termios.tcgetattr(master)
        assert not attrs[3] & termios.ECHO, "terminal should be raw while the VM runs"
        assert not attrs[3] & termios.ICANON
        os.write(master, b"\x01x")  # Ctrl-a x
        rc = _wait(pid, timeouts(10))
        assert rc == 0, f"Ctrl-a x should stop the VM with status 0, got {rc}"
        attrs = termios.tcgetattr(master)
        assert attrs[3] & termios.ECHO and attrs[3] & termios.ICANON, \
            "the terminal's settings must be restored when glue exits"


def test_tty_ctrl_c_goes_to_the_guest(glue_bin, guest, rundir, timeouts):
    """In raw mode Ctrl-C is a byte for the guest, not a signal for glue:
    the serial check echoes the line it receives, Ctrl-C included."""
    cmd = [str(glue_bin), "run", "-k", str(guest("elf")), "-p", "glue.test=serial",
           "--debug-exit"]
    with _glue_on_pty(cmd, glueutil.runtime_env(rundir)) as (pid, master):
        _read_until(master, rb"SERIAL READY", timeouts(20))
        os.write(master, b"a\x03b\x01\x01c\n")  # Ctrl-C, and Ctrl-a Ctrl-a = one Ctrl-a
        out = _read_until(master, rb"TEST serial \w+[^\n]*\n", timeouts(20))
        line = re.search(rb"TEST serial (\w+) echo=([^\r\n]*)", out)
        assert line and line.group(1) == b"PASS", out.decode(errors="replace")
        assert line.group(2).startswith(b"a\x03b\x01c"), \
            f"guest should get Ctrl-C and a single Ctrl-a, got {line.group(2)!r}"
        assert _wait(pid, timeouts(20)) == 0


def test_tty_escape_works_while_the_guest_ignores_input(glue_bin, guest, rundir, timeouts):
    """The ticker never reads the UART: once its input buffer is full glue
    must still see Ctrl-a x (it drops what the guest cannot take, as a UART
    overruns) instead of no longer reading the terminal."""
    cmd = [str(glue_bin), "run", "-k", str(guest("elf")), "-p", "glue.test=ticker"]
    with _glue_on_pty(cmd, glueutil.runtime_env(rundir)) as (pid, master):
        _read_until(master, rb"TICK 0", timeouts(20))
        for _ in range(200):  # 20 KB, far more than the UART buffers
            os.write(master, b"z" * 100)
            while select.select([master], [], [], 0)[0]:
                os.read(master, 65536)
        os.write(master, b"\x01x")
        deadline = time.monotonic() + timeouts(10)
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    time.sleep(0.05)  # EIO: glue closed the terminal, i.e. exited
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.waitstatus_to_exitcode(status) == 0
                return
        raise AssertionError("Ctrl-a x was ignored after the guest's input backed up")
