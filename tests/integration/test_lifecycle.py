# SPDX-License-Identifier: MIT
"""VM lifecycle (issue 4): glue list / pause / resume / stop on named VMs
running the test guest's ticker (it prints `TICK n` once a second and resets
on Ctrl-Alt-Del)."""

import json
import math
import os
import re
import signal
import time

import pytest

import glueutil

pytestmark = pytest.mark.lifecycle


@pytest.fixture(autouse=True)
def lifecycle_available(glue):
    r = glue("list")
    if r.returncode != 0 and re.search(r"not (yet )?implemented|unknown command", r.stderr, re.I):
        pytest.skip(f"glue list is not available yet: {r.stderr.strip()}")


def ticker(vm, guest, name, **kw):
    v = vm(guest("elf"), name=name, params="glue.test=ticker", mem=kw.pop("mem", "32M"), **kw)
    v.expect(r"^TICK (\d+)", 15)
    return v


def list_json(glue, *args):
    r = glue("list", "--json", *args)
    assert r.returncode == 0, r
    try:
        data = json.loads(r.stdout)
    except ValueError as e:
        pytest.fail(f"glue list --json printed invalid JSON ({e}):\n{r.stdout}")
    assert isinstance(data, list), r.stdout
    return {d["name"]: d for d in data}


def list_table(glue):
    """{name: {column: value}} from the table."""
    r = glue("list")
    assert r.returncode == 0, r
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    if not lines:
        return {}
    head = lines[0].split()
    assert head[:3] == ["NAME", "PID", "STATE"], f"unexpected table header: {lines[0]!r}"
    rows = {}
    for l in lines[1:]:
        cols = l.split()
        rows[cols[0]] = dict(zip(head, cols))
    return rows


def ticks_during(v, seconds):
    """TICK lines printed during the next `seconds` (wall clock)."""
    before = len(re.findall(r"^TICK \d+", v.log, re.M))
    time.sleep(seconds)
    return len(re.findall(r"^TICK \d+", v.log, re.M)) - before


def test_list_empty(glue):
    assert list_json(glue) == {}
    assert list_table(glue) == {}


def test_list_shows_running_vm(vm, guest, glue):
    v = ticker(vm, guest, "alpha", cpus=2)
    rows = list_json(glue)
    assert set(rows) == {"alpha"}, rows
    row = rows["alpha"]
    assert row["state"] == "running", row
    assert row["pid"] == v.proc.pid, row
    assert row.get("cpus") == 2, row
    assert row.get("mem_bytes", row.get("mem")) in (32 << 20, "32M", "32 MiB"), row
    table = list_table(glue)
    assert table["alpha"]["STATE"] == "running" and table["alpha"]["PID"] == str(v.proc.pid), table


def test_pause_resume(vm, guest, glue):
    v = ticker(vm, guest, "beta")
    v.expect(r"^TICK \d+", 5)
    r = glue("pause", "-n", "beta")
    assert r.returncode == 0, r
    assert "paused" in (r.stdout + r.stderr), f"pause should report the state: {r}"
    time.sleep(0.3)  # a TICK already in flight in the UART may still land
    assert ticks_during(v, 3.2) == 0, f"the guest ticked while paused\n{v.report()}"
    assert list_json(glue)["beta"]["state"] == "paused"
    assert list_table(glue)["beta"]["STATE"] == "paused"
    # Idempotent.
    r = glue("pause", "-n", "beta")
    assert r.returncode == 0 and "paused" in (r.stdout + r.stderr), r
    r = glue("resume", "-n", "beta")
    assert r.returncode == 0 and "running" in (r.stdout + r.stderr), r
    v.expect(r"^TICK \d+", 5)
    assert list_json(glue)["beta"]["state"] == "running"
    r = glue("resume", "-n", "beta")
    assert r.returncode == 0, r
    assert v.running(), v.report()


def test_stop_ends_process_and_listing(vm, guest, glue):
    v = ticker(vm, guest, "gamma")
    r = glue("stop", "-n", "gamma", timeout=60)
    assert r.returncode == 0, r
    # stop returns only once the VM's process is gone.
    assert v.proc.poll() is not None, "glue stop returned while the VM still runs"
    assert v.wait_exit(5) == 0, v.report()
    assert re.search(r"^SHUTDOWN ctrl-alt-del", v.log, re.M), \
        f"a plain stop should go through the guest's Ctrl-Alt-Del\n{v.report()}"
    assert "gamma" not in list_json(glue)


def test_stop_paused_vm(vm, guest, glue):
    v = ticker(vm, guest, "paused-stop")
    assert glue("pause", "-n", "paused-stop").returncode == 0
    r = glue("stop", "-n", "paused-stop", timeout=60)
    assert r.returncode == 0, r
    assert v.wait_exit(5) == 0, v.report()


def test_stop_force(vm, guest, glue, timeouts):
    # The serial check waits for input and never looks at the i8042.
    v = vm(guest("elf"), name="deaf", params="glue.test=serial")
    v.expect(r"^SERIAL READY", 15)
    t0 = time.monotonic()
    r = glue("stop", "-n", "deaf", "--force", timeout=30)
    assert r.returncode == 0, r
    assert v.wait_exit(5) == 0, v.report()
    assert time.monotonic() - t0 < timeouts(10)
    assert "deaf" not in list_json(glue)


def test_stop_timeout_forces(vm, guest, glue):
    v = vm(guest("elf"), name="deaf2", params="glue.test=serial")
    v.expect(r"^SERIAL READY", 15)
    t0 = time.monotonic()
    r = glue("stop", "-n", "deaf2", "--timeout", "2", timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == 0, r
    assert v.proc.poll() is not None, "stop returned while the VM still runs"
    assert 1.5 <= took, f"stop --timeout 2 returned after {took:.1f} s without the guest's help"
    assert "deaf2" not in list_json(glue)


def test_duplicate_name_refused(vm, guest, glue):
    v = ticker(vm, guest, "dup")
    v2 = vm(guest("elf"), name="dup", params="glue.test=ticker")
    rc = v2.wait_exit(15)
    assert rc == 14, f"second VM named 'dup': status {rc}\n{v2.report()}"
    lines = glueutil.error_lines(v2.stderr)
    assert len(lines) == 1 and "dup" in lines[0], v2.stderr
    assert v.running() and list_json(glue)["dup"]["pid"] == v.proc.pid


def test_unknown_name(glue):
    for cmd in ("pause", "resume", "stop"):
        r = glue(cmd, "-n", "nosuchvm")
        assert r.returncode == 10, r
        lines = glueutil.error_lines(r.stderr)
        assert len(lines) == 1 and "nosuchvm" in lines[0], r.stderr


def test_killed_vm_socket_cleaned(vm, guest, glue, rundir):
    v = ticker(vm, guest, "victim")
    sockdir = rundir / "glue"
    assert (sockdir / "victim.sock").exists(), list(sockdir.iterdir())
    os.kill(v.proc.pid, signal.SIGKILL)
    v.proc.wait(10)
    assert (sockdir / "victim.sock").exists(), "nothing should have removed it yet"
    assert "victim" not in list_json(glue)
    assert not (sockdir / "victim.sock").exists(), "glue list left the dead VM's socket"
    # The name is free again.
    v2 = ticker(vm, guest, "victim")
    assert list_json(glue)["victim"]["pid"] == v2.proc.pid


def test_runtime_dir_unusable(glue, rundir):
    d = rundir / "glue"
    d.mkdir(mode=0o700)
    d.chmod(0o777)  # group/world accessible: refused
    r = glue("list")
    assert r.returncode == 13, r
    assert len(glueutil.error_lines(r.stderr)) == 1, r.stderr


@pytest.mark.slow
def test_many_vms_listed_and_stopped(vm, guest, glue, timeouts):
    names = [f"many-{i:02d}" for i in range(20)]
    vms = [vm(guest("elf"), name=n, params="glue.test=ticker", mem="16M") for n in names]
    for v in vms:
        v.expect(r"^TICK \d+", 60)
    # 20 busy VMs on a slow host may each take longer than the default 1 s.
    rows = list_json(glue, "--timeout", str(math.ceil(timeouts(1))))
    assert set(rows) == set(names), rows
    assert all(r["state"] == "running" for r in rows.values()), rows
    assert len(list_table(glue)) == 20
    r = glue("stop", "--all", timeout=120)
    assert r.returncode == 0, r
    for v in vms:
        assert v.proc.poll() is not None, f"{v.name} still runs after stop --all"
        assert v.wait_exit(5) == 0, v.report()
    assert list_json(glue) == {}


@pytest.mark.parametrize("value", ["0", "601", "x", "-1"])
def test_list_timeout_is_checked(glue, value):
    r = glue("list", "--timeout", value)
    assert r.returncode == 2, r
    assert glueutil.error_lines(r.stderr) == [f"glue list: invalid timeout '{value}' "
                                              "(seconds, 1 to 600)"], r.stderr
