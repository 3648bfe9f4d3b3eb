# SPDX-License-Identifier: MIT
"""basic: a console reader that stops reading must not freeze the VM.

The guest floods the console; glue's stdout is a pipe nobody reads. Pause,
resume, list, a forced stop and SIGTERM must all still work, promptly."""

import os
import signal
import subprocess
import time

import pytest

import glueutil


@pytest.fixture
def flooding_vm(glue_bin, guest, rundir, timeouts):
    """glue run with the flood guest, stdout into a pipe that is never read."""
    r, w = os.pipe()
    p = subprocess.Popen([str(glue_bin), "run", "-n", "flood", "-k", str(guest("elf")),
                          "-p", "glue.test=flood"], stdin=subprocess.DEVNULL, stdout=w,
                         stderr=subprocess.PIPE, env=glueutil.runtime_env(rundir),
                         start_new_session=True)
    os.close(w)
    # Up (its control socket there), then long enough to fill the pipe and
    # glue's own buffer.
    sock = rundir / "glue" / "flood.sock"
    deadline = time.monotonic() + timeouts(10)
    while not sock.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sock.exists(), f"glue run made no control socket: {p.poll()}"
    time.sleep(1.5)
    yield p
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    os.close(r)


def test_pause_resume_stop_with_a_stalled_reader(flooding_vm, glue, timeouts):
    assert flooding_vm.poll() is None, "the VM should still be running"
    r = glue("pause", "-n", "flood", timeout=10)
    assert r.returncode == 0 and "paused" in r.stdout, r.stdout + r.stderr
    r = glue("list", timeout=10)
    assert "paused" in r.stdout, r.stdout + r.stderr
    r = glue("resume", "-n", "flood", timeout=10)
    assert r.returncode == 0, r.stderr
    start = time.monotonic()
    r = glue("stop", "-n", "flood", "--force", timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "killing" not in r.stderr, f"the VM had to be killed: {r.stderr}"
    assert flooding_vm.wait(timeout=timeouts(10)) == 0
    assert time.monotonic() - start < timeouts(5), "a forced stop should not take long"


def test_sigterm_with_a_stalled_reader(flooding_vm, timeouts):
    flooding_vm.send_signal(signal.SIGTERM)
    assert flooding_vm.wait(timeout=timeouts(10)) == 0
    err = flooding_vm.stderr.read().decode(errors="replace")
    glueutil.check_stderr_clean(err, "glue run (SIGTERM)")
