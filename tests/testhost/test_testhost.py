# SPDX-License-Identifier: MIT
"""The test host (testhost/testhost.py) itself: what goes in and out, and
that every way of ending it (the command's exit, a timeout, a frozen or
crashed test host, Ctrl-C) leaves no QEMU behind and says what happened.
Needs QEMU, not KVM: it runs natively."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2]
TESTHOST = SOURCE / "scripts" / "testhost"
sys.path.insert(0, str(SOURCE / "testhost"))
import testhost  # noqa: E402


@pytest.fixture
def th(tmp_path):
    """th(*argv, timeout=, stdin=, env=) -> (CompletedProcess, tmpdir): runs
    scripts/testhost with its own GLUE_TESTHOST_TMPDIR, so that the QEMU it
    starts can be found; asserts afterwards that none is left."""
    tmpdir = Path(tempfile.mkdtemp(prefix="th-", dir="/tmp"))

    def run(*argv, timeout=300, stdin=subprocess.DEVNULL, env=None, cwd=None, proc=False):
        e = dict(os.environ, GLUE_TESTHOST_TMPDIR=str(tmpdir), **(env or {}))
        cmd = [str(TESTHOST)] + [str(a) for a in argv]
        if proc:
            return subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=e, cwd=cwd)
        return subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, timeout=timeout,
                              env=e, cwd=cwd)

    run.tmpdir = tmpdir
    yield run
    left = qemus(tmpdir)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    subprocess.run(["rm", "-rf", str(tmpdir)])
    assert not left, f"QEMU processes left behind: {left}"


def qemus(tmpdir):
    """PIDs of QEMU processes started for this tmpdir."""
    r = subprocess.run(["pgrep", "-f", f"qemu-system.*{tmpdir}"], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_command_runs_like_here(th, tmp_path):
    """Same working directory, environment and user; stdout and stderr
    apart; stdin through; its exit status back; a real /dev/kvm inside;
    writes reach the host only in the writable share."""
    shared = tmp_path / "shared"
    shared.mkdir()
    script = (
        'echo "cwd=$(pwd)"; echo "var=$GLUE_TH_TEST"; echo "uid=$(id -u)"; '
        'echo oops >&2; read line; echo "stdin=$line"; '
        f'python3 {SOURCE}/testhost/testhost.py kvm; echo "kvm=$?"; '
        'echo data >written; echo lost >/tmp/glue-th-test-outside; exit 7')
    p = th("run", "--rw", shared, "--", "sh", "-c", script, cwd=shared, proc=True,
           stdin=subprocess.PIPE, env={"GLUE_TH_TEST": "a b'c"})
    out, err = p.communicate("hello there\n", timeout=300)
    assert p.returncode == 7, (out, err)
    lines = out.splitlines()
    assert f"cwd={shared}" in lines, out
    assert "var=a b'c" in lines, out
    assert f"uid={os.getuid()}" in lines, out
    assert "stdin=hello there" in lines, out
    assert "kvm=0" in lines, f"no working /dev/kvm inside:\n{out}"
    assert "oops" in err and "oops" not in out, (out, err)
    assert (shared / "written").read_text() == "data\n"
    assert not Path("/tmp/glue-th-test-outside").exists(), "a write outside the share reached the host"


def test_timeout(th):
    t0 = time.monotonic()
    r = th("run", "--timeout", "5", "--", "sleep", "600")
    assert r.returncode == testhost.EXIT_TIMEOUT, r
    assert "ran past its 5" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 120


def test_frozen_host_is_reported(th):
    """A test host that stops (here: QEMU stopped with SIGSTOP) is a
    failure of the test host, not a result of the command."""
    p = th("run", "--watchdog", "10", "--", "sleep", "600", proc=True)
    pid = wait_for(lambda: qemus(th.tmpdir), 60, "QEMU to start")[0]
    time.sleep(15)  # booted: the heartbeat is on
    os.kill(pid, signal.SIGSTOP)
    out, err = p.communicate(timeout=120)
    assert p.returncode == testhost.EXIT_HOST, err
    assert "the test host froze: no heartbeat for 10 s" in err, err


def test_crashed_host_is_reported(th):
    r = th("run", "--", "sh", "-c", "echo c >/proc/sysrq-trigger; sleep 60")
    assert r.returncode == testhost.EXIT_HOST, r
    assert "without reporting the command's exit status" in r.stderr, r.stderr
    assert "sysrq" in r.stderr.lower(), "the console tail should show the L1 kernel's end"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_everything(th, sig):
    """Ctrl-C (or a kill) stops the command, then the test host: the exit
    status says which signal, and no QEMU is left (the fixture checks)."""
    p = th("run", "--", "sh", "-c", "trap 'echo got-signal; exit 3' INT TERM; "
           "echo started; while :; do sleep 1; done", proc=True)
    wait_for(lambda: qemus(th.tmpdir), 60, "QEMU to start")
    line = p.stdout.readline()
    assert line.strip() == "started", line
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert "got-signal" in out, (out, err)
    assert p.returncode == 128 + sig, (p.returncode, err)
