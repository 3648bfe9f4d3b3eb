# SPDX-License-Identifier: MIT
"""Fixtures for glue's integration suite. See docs/testing.md."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import glueutil  # noqa: E402
from glueutil import VM, Timeouts  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if os.environ.get("GLUE_TEST_VERYSLOW", "") in ("", "0"):
        skip = pytest.mark.skip(reason="takes minutes here; set GLUE_TEST_VERYSLOW=1 to run it")
        for item in items:
            if "veryslow" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def glue_bin():
    path = glueutil.glue_binary()
    if not path.exists():
        pytest.fail(f"glue binary not found at {path}: build it first (ninja -C {path.parent.parent})"
                    " or set GLUE_BUILD_DIR")
    return path


@pytest.fixture(scope="session")
def guest():
    """Function kind -> path of a test-guest image; fails if the guest is not built."""

    def get(kind="elf"):
        p = glueutil.guest_image(kind)
        if not p.exists():
            pytest.fail(f"test guest image {p} is missing: build the tests (ninja -C "
                        f"{glueutil.build_dir()})")
        return p

    return get


def _kvm_modules():
    try:
        return set(os.listdir("/sys/module"))
    except OSError:
        return set()


@pytest.fixture(scope="session")
def host_kind(glue_bin, tmp_path_factory):
    """'hardware' or 'emulated' (PVM: guest code runs through KVM's
    instruction emulator). GLUE_HOST_KVM=hardware|emulated overrides.

    Decided by asking KVM, not CPU flags: a tiny PVH guest that spins a
    million times is booted with 0 and with 1e6 iterations; the difference
    is ~1 ms on hardware-backed KVM and ~1 s when emulated."""
    forced = os.environ.get("GLUE_HOST_KVM")
    if forced in ("hardware", "emulated"):
        return forced
    if glueutil.testhost.inside():
        return "hardware"  # the test host's KVM is kvm_amd (nested SVM)
    d = tmp_path_factory.mktemp("probe")
    rundir = tempfile.mkdtemp(prefix="glue-rt-", dir="/tmp")
    env = glueutil.runtime_env(rundir)
    times = []
    try:
        for n in (0, 1_000_000):
            img = d / f"spin{n}.elf"
            img.write_bytes(glueutil.make_pvh_elf(glueutil.spin_then_reset_code(n)))
            best = None
            for _ in range(2):
                t0 = time.monotonic()
                r = subprocess.run([glue_bin, "run", "-k", img, "-m", "16", "--console", "none",
                                    "--boot", "pvh"], env=env, capture_output=True, timeout=120,
                                   stdin=subprocess.DEVNULL)
                dt = time.monotonic() - t0
                if r.returncode != 0:
                    break
                best = dt if best is None else min(best, dt)
            if best is None:
                break
            times.append(best)
    except subprocess.TimeoutExpired:
        times = []
    finally:
        shutil.rmtree(rundir, ignore_errors=True)
    if len(times) == 2:
        return "emulated" if times[1] - times[0] > 0.15 else "hardware"
    # The probe could not run (glue broken?): fall back on which KVM module is
    # loaded. kvm_pvm runs ordinary guests through the emulator.
    mods = _kvm_modules()
    if "kvm_pvm" in mods:
        return "emulated"
    if "kvm_intel" in mods or "kvm_amd" in mods:
        return "hardware"
    return "emulated"


@pytest.fixture(scope="session")
def timeouts(host_kind):
    return Timeouts(host_kind == "emulated")


@pytest.fixture
def rundir():
    """A private, short runtime directory (XDG_RUNTIME_DIR) for this test:
    control sockets must fit in sun_path, so not under tmp_path."""
    d = tempfile.mkdtemp(prefix="glue-rt-", dir="/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def glue(glue_bin, rundir, timeouts):
    """Run a glue command to completion: glue('list', '--json') ->
    CompletedProcess (text). Same runtime dir as the vm fixture."""

    def run(*args, timeout=30, check_clean=True, input=None):
        try:
            r = subprocess.run([str(glue_bin)] + [str(a) for a in args],
                               env=glueutil.runtime_env(rundir), capture_output=True, text=True,
                               timeout=timeouts(timeout), input=input,
                               stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"'glue {' '.join(map(str, args))}' did not finish in "
                        f"{timeouts(timeout):.0f} s; stderr so far: {e.stderr}")
        if check_clean:
            glueutil.check_stderr_clean(r.stderr, "glue " + " ".join(map(str, args)))
            if r.returncode < 0:
                pytest.fail(f"'glue {' '.join(map(str, args))}' killed by signal "
                            f"{-r.returncode}: {r.stderr}")
        return r

    return run


@pytest.fixture
def vm(glue_bin, rundir, timeouts, request):
    """Factory: vm(kernel, '-p', 'glue.test=boot', ...) starts `glue run -k
    kernel ...` (name given with name=...; debug_exit=True adds --debug-exit;
    verbose=True puts -v before run) and returns a VM. Every VM is killed and
    reaped at teardown; a failing test prints the serial logs."""
    vms = []
    request.node.glue_vms = vms  # for the failure report hook below

    def start(kernel, *args, name=None, verbose=False, debug_exit=False, mem=None, cpus=None,
              params=None, default_params=False, env=None):
        cmd = [str(glue_bin)] + (["-v"] if verbose else []) + ["run", "-k", str(kernel)]
        if name:
            cmd += ["-n", name]
        if mem is not None:
            cmd += ["-m", str(mem)]
        if cpus is not None:
            cmd += ["-c", str(cpus)]
        if params is not None:
            cmd += ["-p", params]
            if not default_params:
                cmd += ["--no-default-params"]
        if debug_exit:
            cmd += ["--debug-exit"]
        cmd += [str(a) for a in args]
        v = VM(cmd, glueutil.runtime_env(rundir, env), timeouts, name=name)
        vms.append(v)
        return v

    yield start
    for v in vms:
        v.kill()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach every VM's serial log and stderr to a failing test's report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        for i, v in enumerate(getattr(item, "glue_vms", [])):
            rep.sections.append((f"VM {i} ({v.name or 'unnamed'})", v.report()))


# Shared helpers for guest runs -------------------------------------------


@pytest.fixture
def run_guest(vm, guest):
    """Boot the test guest with glue.test=<checks> (+ extra cmdline words)
    under --debug-exit, wait for GUEST DONE and the exit; return (vm, tests,
    status). tests maps check name -> (PASS|FAIL, {key: value}, detail)."""

    def run(checks, *args, kind="elf", extra="", timeout=20, expect_status=0, **kw):
        params = f"glue.test={checks}" + (f" {extra}" if extra else "")
        v = vm(guest(kind), *args, params=params, debug_exit=True, **kw)
        v.expect(r"^GUEST DONE pass=(\d+) fail=(\d+)", timeout)
        rc = v.wait_exit(timeout)
        tests = glueutil.parse_tests(v.log)
        if expect_status is not None:
            assert rc == expect_status, f"exit status {rc}, expected {expect_status}\n{v.report()}"
        return v, tests, rc

    return run
