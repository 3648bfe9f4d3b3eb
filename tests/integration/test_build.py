# SPDX-License-Identifier: MIT
"""Every meson option set builds and passes its unit tests; builds without
optional parts still behave (the bzImage falls back to its own entry when
glue has no decompressor for it).

The builds and their KVM-free unit tests run here; what needs KVM (the kvm
unit tests, guests) goes through glueutil.kvm_run(), i.e. into the test
host where /dev/kvm is missing."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import glueutil

pytestmark = pytest.mark.build

NO_DEVICES = ["-Dserial=false", "-Di8042=false", "-Drtc=false", "-Ddebug_exit=false",
              "-Dacpi=false", "-Dvirtio_mmio=false", "-Dpci=false", "-Dvirtio_rng=false",
              "-Dvirtio_blk=false", "-Dvirtio_net=false"]
NO_DECOMPRESSORS = ["-Dgzip=disabled", "-Dxz=disabled", "-Dlz4=disabled", "-Dzstd=disabled",
                    "-Dbzip2=disabled"]


def _tool(name):
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} not found on PATH")
    return path


def _clean_env(extra=None):
    """The environment without LD_LIBRARY_PATH: `meson test` points it at the
    build under test, which would make another build's glue load that
    build's libglue.so instead of its own."""
    env = dict(extra if extra is not None else os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    return env


def _run(cmd, timeout, what):
    t0 = time.monotonic()
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, env=_clean_env())
    if r.returncode != 0:
        out = r.stdout[-6000:] + r.stderr[-2000:]
        pytest.fail(f"{what} failed (status {r.returncode}): {' '.join(map(str, cmd))}\n{out}")
    return r, time.monotonic() - t0


# The unit tests that open /dev/kvm (suite 'kvm' in tests/unit/meson.build).
KVM_UNIT_TESTS = ["kvm", "machine", "cpuid", "x86_regs"]


def _check_meson_summary(r, what):
    m = re.search(r"^Ok:\s+(\d+)", r.stdout, re.M)
    assert m and int(m.group(1)) > 0, f"{what}: no test passed\n{r.stdout[-3000:]}"
    assert re.search(r"^Fail:\s+0", r.stdout, re.M), f"{what}\n{r.stdout[-3000:]}{r.stderr[-2000:]}"


def _unit_tests(builddir, rebuild=True):
    """The build's unit tests: the KVM-free ones here, the KVM ones where
    KVM is (the test host if need be); none of the latter may skip."""
    meson = _tool("meson")
    cmd = [meson, "test", "-C", builddir, "--suite", "unit", "--no-suite", "kvm",
           "--print-errorlogs", "--num-processes", "2", "--logbase", "build-native"]
    if not rebuild:
        cmd.append("--no-rebuild")
    r, _ = _run(cmd, 900, "unit tests")
    _check_meson_summary(r, "unit tests")
    present = [t for t in KVM_UNIT_TESTS if (Path(builddir) / "tests" / "unit" / f"test_{t}").exists()]
    r = glueutil.kvm_run([meson, "test", "-C", builddir, "--no-rebuild", "--print-errorlogs",
                          "--logbase", "build-kvm"] + present, 900, env=_clean_env(),
                         rw=[builddir])
    _check_meson_summary(r, "KVM unit tests")
    for t in present:
        report = json.loads((Path(builddir) / "tests" / "unit" / f"test_{t}.json").read_text())
        skipped = [f"{s['name']}::{c['name']}: {c.get('messages')}"
                   for s in report["test_suites"] for c in s["tests"] if c["status"] == "SKIPPED"]
        assert not skipped, f"KVM unit tests skipped where KVM is: {skipped}"
    return r


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    """Function options -> a fresh build dir configured and built with them."""
    made = {}

    def get(*options):
        key = tuple(options)
        if key not in made:
            meson, ninja = _tool("meson"), _tool("ninja")
            d = tmp_path_factory.mktemp("build")
            _run([meson, "setup", *options, d, glueutil.SOURCE_DIR], 300,
                 "meson setup " + " ".join(options))
            _run([ninja, "-C", d, "-j2"], 900, "build with " + " ".join(options))
            made[key] = d
        return made[key]

    yield get
    for d in made.values():
        shutil.rmtree(d, ignore_errors=True)


def test_default_build_unit_tests():
    """The build under test itself (already built) passes its unit tests."""
    _unit_tests(glueutil.build_dir(), rebuild=False)


@pytest.mark.slow
def test_no_decompressors(configured, guest, tmp_path):
    d = configured(*NO_DECOMPRESSORS)
    cfg = (d / "include" / "glue" / "config.h").read_text()
    for fmt in ("GZIP", "XZ", "LZ4", "ZSTD", "BZIP2"):
        assert re.search(rf"GLUE_HAVE_{fmt}\s+0", cfg), f"GLUE_HAVE_{fmt} should be 0:\n{cfg}"
    _unit_tests(d)
    env = _clean_env(glueutil.runtime_env(tmp_path))
    # Without a decompressor auto mode falls back to the bzImage's own entry...
    r = glueutil.kvm_run([d / "cli" / "glue", "-v", "run", "-k", guest("bzImage"), "--debug-exit",
                          "--no-default-params", "-p", "glue.test=boot"], 300, env=env)
    glueutil.check_stderr_clean(r.stderr, "glue run")
    assert r.returncode == 0, r
    assert re.search(r"^GUEST entry=linux64", r.stdout.replace("\r", ""), re.M), r.stdout
    assert re.search(r"^TEST boot PASS", r.stdout.replace("\r", ""), re.M), r.stdout
    assert "unpack" not in r.stderr.lower() or "cannot" in r.stderr.lower() \
        or "fall" in r.stderr.lower(), r.stderr
    # ...and --boot unpack says why it cannot (before any KVM is needed).
    r = subprocess.run([d / "cli" / "glue", "run", "-k", guest("bzImage"), "--boot", "unpack",
                        "--console", "none", "-p", "glue.test=reset"], capture_output=True,
                       text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    glueutil.check_stderr_clean(r.stderr, "glue run")
    assert r.returncode == 1, r
    lines = glueutil.error_lines(r.stderr)
    assert len(lines) == 1 and re.search(r"gzip", lines[0], re.I), r.stderr


@pytest.mark.slow
def test_no_devices(configured, guest, tmp_path):
    d = configured(*NO_DEVICES)
    cfg = (d / "include" / "glue" / "config.h").read_text()
    for dev in ("SERIAL", "I8042", "RTC", "DEBUG_EXIT", "ACPI", "VIRTIO_MMIO", "PCI",
                "VIRTIO_RNG", "VIRTIO_BLK"):
        assert re.search(rf"GLUE_HAVE_{dev}\s+0", cfg), f"GLUE_HAVE_{dev} should be 0:\n{cfg}"
    _unit_tests(d)
    # The VMM still runs a guest (which cannot talk or reset), and stops
    # cleanly on SIGTERM: status 0, and no serial output at all.
    script = ('"$0" run -k "$1" -p glue.test=boot >"$2" & p=$!; sleep 2; '
              'kill -0 $p || { echo "glue ended early" >&2; exit 99; }; kill -TERM $p; wait $p')
    shared, rt = tmp_path / "out", tmp_path / "rt"
    shared.mkdir()
    rt.mkdir()
    out = shared / "serial.out"
    r = glueutil.kvm_run(["sh", "-c", script, d / "cli" / "glue", guest("elf"), out], 300,
                         env=_clean_env(glueutil.runtime_env(rt)), rw=[shared])
    glueutil.check_stderr_clean(r.stderr, "glue run")
    assert r.returncode == 0, r
    assert out.read_bytes() == b"", "no serial device, yet the guest's output arrived"


@pytest.mark.slow
@pytest.mark.parametrize("option,left_out,ask,message", [
    ("-Dvirtio_mmio=false", "virtio-mmio", ["--transport", "mmio"], r"without virtio-mmio"),
    ("-Dpci=false", "pci", ["--transport", "pci"], r"without PCI"),
    ("-Dvirtio_mmio=false -Dpci=false", "pci", ["--rng"], r"without a virtio transport"),
    ("-Dvirtio_rng=false", "virtio-rng", ["--rng"], r"without virtio-rng"),
    ("-Dvirtio_blk=false", "virtio-blk", ["-d", "DISK"], r"without virtio-blk"),
    ("-Dvirtio_net=false", "virtio-net", ["--net", "user"], r"without virtio-net"),
    ("-Dslirp=disabled", "slirp", ["--net", "user"], r"without user-mode networking"),
    ("-Dvhost=false", "vhost", ["--net", "tap=gluenotap0,vhost=on"], r"without vhost-net"),
], ids=["no-virtio-mmio", "no-pci", "no-transport", "no-virtio-rng", "no-virtio-blk",
        "no-virtio-net", "no-slirp", "no-vhost"])
def test_without_a_virtio_part(configured, guest, tmp_path, option, left_out, ask, message):
    """A build without the transport or a device: glue --version says what
    it left out, the default run boots without it, and asking for the
    device is refused by name before KVM is needed."""
    d = configured(*option.split())
    _unit_tests(d)
    glue = d / "cli" / "glue"
    r = subprocess.run([glue, "--version"], capture_output=True, text=True, timeout=30,
                       env=_clean_env())
    assert r.returncode == 0, r
    assert re.search(rf"^left out:.* {left_out}( |$)", r.stdout, re.M), r.stdout
    assert not re.search(rf"^components:.* {left_out}( |$)", r.stdout, re.M), r.stdout
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(4096))
    ask = [str(disk) if a == "DISK" else a for a in ask]
    r = subprocess.run([glue, "run", "-k", guest("elf"), *ask, "--console", "none"],
                       capture_output=True, text=True, timeout=60, env=_clean_env(),
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r
    lines = glueutil.error_lines(r.stderr)
    assert len(lines) == 1 and re.search(message, lines[0]), r.stderr
    env = _clean_env(glueutil.runtime_env(tmp_path))
    r = glueutil.kvm_run([glue, "run", "-k", guest("elf"), "--debug-exit", "--no-default-params",
                          "-p", "glue.test=boot"], 300, env=env)
    glueutil.check_stderr_clean(r.stderr, "glue run")
    assert r.returncode == 0, r


MANIFESTS = Path(glueutil.SOURCE_DIR) / "tests" / "build"
# glue --version's names for the meson options
COMPONENT = {"serial": "serial", "i8042": "i8042", "rtc": "rtc", "debug_exit": "debug-exit",
             "acpi": "acpi", "virtio_mmio": "virtio-mmio", "pci": "pci",
             "virtio_rng": "virtio-rng", "virtio_blk": "virtio-blk",
             "virtio_net": "virtio-net"}


def _manifest(path):
    """The [project options] of a meson machine file, as {name: bool}."""
    opts, section = {}, None
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("["):
            section = line
        elif "=" in line and section == "[project options]":
            k, v = (x.strip() for x in line.split("=", 1))
            opts[k] = v == "true"
    return opts


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.stem for p in MANIFESTS.glob("*.ini")))
def test_manifest_build(configured, guest, tmp_path, name):
    """A custom hypervisor from a manifest (tests/build/NAME.ini, a meson
    machine file): it builds, passes its unit tests, says what it has and
    what it left out, refuses what it left out by name, and boots."""
    manifest = MANIFESTS / f"{name}.ini"
    opts = _manifest(manifest)
    assert opts, f"{manifest} has no [project options]"
    d = configured("--native-file", str(manifest))
    _unit_tests(d)
    glue = d / "cli" / "glue"
    r = subprocess.run([glue, "--version"], capture_output=True, text=True, timeout=30,
                       env=_clean_env())
    have = set(re.search(r"^components:(.*)$", r.stdout, re.M).group(1).split())
    left = set(re.search(r"^left out:(.*)$", r.stdout, re.M).group(1).split())
    for opt, on in opts.items():
        if opt in COMPONENT:
            assert (COMPONENT[opt] in have) == on and (COMPONENT[opt] in left) != on, \
                f"{opt}={on} but glue --version says\n{r.stdout}"
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(4096))
    transport = opts.get("virtio_mmio", True) or opts.get("pci", True)
    for opt, args in (("virtio_rng", ["--rng"]), ("virtio_blk", ["-d", str(disk)]),
                      ("virtio_net", ["--net", "user"]), ("pci", ["--transport", "pci"])):
        if not opts.get(opt, True) or not transport:
            r = subprocess.run([glue, "run", "-k", guest("elf"), *args, "--console", "none"],
                               capture_output=True, text=True, timeout=60, env=_clean_env(),
                               stdin=subprocess.DEVNULL)
            assert r.returncode == 1 and "built without" in r.stderr, r
    # It boots the test guest: the boot check's line on its console, then SIGTERM.
    script = ('"$0" run -k "$1" -p glue.test=boot --no-default-params >"$2" & p=$!; '
              'for i in $(seq 100); do grep -q "TEST boot" "$2" && break; sleep 0.1; done; '
              'kill -TERM $p; wait $p')
    shared, rt = tmp_path / "out", tmp_path / "rt"
    shared.mkdir()
    rt.mkdir()
    out = shared / "serial.out"
    r = glueutil.kvm_run(["sh", "-c", script, glue, guest("elf"), out], 300,
                         env=_clean_env(glueutil.runtime_env(rt)), rw=[shared])
    glueutil.check_stderr_clean(r.stderr, "glue run")
    assert r.returncode == 0, r
    assert re.search(r"^TEST boot PASS", out.read_text().replace("\r", ""), re.M), out.read_text()
    # What it has works: a disk through the guest's own virtio driver, over
    # the transport the manifest kept (malformed chains included).
    if opts.get("virtio_blk", True) and transport and opts.get("debug_exit", True):
        disk.write_bytes(bytes(1 << 20))
        r = glueutil.kvm_run([glue, "run", "-k", guest("elf"), "--debug-exit", "-m", "128M",
                              "--no-default-params", "-p", "glue.test=vblk", "-d", disk,
                              "--console", "stdio"], 300,
                             env=_clean_env(glueutil.runtime_env(rt)))
        glueutil.check_stderr_clean(r.stderr, "glue run")
        assert r.returncode == 0 and re.search(r"^TEST vblk PASS", r.stdout, re.M), r


@pytest.mark.slow
def test_debug_buildtype(configured):
    """-O0 (meson's debug buildtype) builds too: warnings differ from -O2."""
    d = configured("--buildtype=debug")
    _unit_tests(d)
