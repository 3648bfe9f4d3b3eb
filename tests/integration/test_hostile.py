# SPDX-License-Identifier: MIT
"""A hostile guest: the test guest's `chaos` check throws thousands of
random port and MMIO accesses (random widths and values) at COM1, the RTC,
the i8042, unassigned ports, the empty 32-bit MMIO hole and the addresses
past the end of RAM, plus string I/O with large counts, then checks from
inside that the devices still work. glue must come through it: no crash, no
sanitizer report, a normal exit, devices that still answer."""

import re

import pytest

import glueutil

pytestmark = pytest.mark.devices

# The pattern of the guest's `CHAOS OUTS` line (one rep outsb of 4000 bytes).
OUTS_PATTERN = "".join(chr(ord("a") + i % 26) for i in range(4000))
# Everything the guest prints in these runs; anything else leaked out of the
# UART while the chaos kept it in loopback.
KNOWN_LINE = re.compile(r"^(GUEST |CMDLINE |E820 |TEST |CHAOS OUTS )")
CRASH_TEXT = ("AddressSanitizer", "runtime error", "Segmentation")


def check_chaos_run(v, tests, seed):
    """What every chaos run must show, whatever the seed."""
    assert "chaos" in tests, f"no TEST chaos line\n{v.report()}"
    status, kv, detail = tests["chaos"]
    assert status == "PASS", f"chaos: {detail}\n{v.report()}"
    assert int(kv["seed"]) == seed, v.report()
    assert int(kv["accesses"]) >= 4000, v.report()
    # Nothing answers at unassigned ports, in the MMIO hole or past the end
    # of RAM: reads there return all-ones (docs/modules/kvm.md).
    assert kv["odd_reads"] == "0", f"reads of nothing that were not all-ones\n{v.report()}"
    if glueutil.have("rtc"):
        assert kv["rtc"] != "none", v.report()
    if glueutil.have("i8042"):
        assert kv["i8042"] == "ok", v.report()

    outs = re.findall(r"^CHAOS OUTS (.*)$", v.log, re.M)
    assert outs == [OUTS_PATTERN], \
        f"the 4000-byte rep outsb line did not arrive intact: {[len(o) for o in outs]}"
    stray = [l for l in v.log.splitlines() if l and not KNOWN_LINE.match(l)]
    assert not stray, f"unexpected console output (loopback leak?): {stray[:5]}\n{v.report()}"
    for text in CRASH_TEXT:
        assert text not in v.stderr, v.report()


@pytest.mark.parametrize("seed,mem", [(1, None), (2, None), (0xC0FFEE, 4608)],
                         ids=["seed1", "seed2", "seedC0FFEE-4608M"])
def test_chaos_guest_survives(run_guest, seed, mem):
    """Three seeds; the last with RAM above 4 GiB, so the reads past the end
    of RAM happen there too. The rtc check after the chaos sees a sane clock."""
    checks = "chaos,rtc" if glueutil.have("rtc") else "chaos"
    v, tests, rc = run_guest(checks, extra=f"glue.seed={seed}", mem=mem)
    assert rc == 0, v.report()
    check_chaos_run(v, tests, seed)
    if glueutil.have("rtc"):
        assert tests.get("rtc", ("FAIL",))[0] == "PASS", v.report()


def test_chaos_then_i8042_reset(vm, guest):
    """Without --debug-exit the guest ends by resetting through the i8042:
    after the chaos that must still end the VM, with status 0."""
    if not glueutil.have("i8042"):
        pytest.skip("built with -Di8042=false")
    seed = 7
    v = vm(guest("elf"), params=f"glue.test=chaos glue.seed={seed}")
    v.expect(r"^GUEST DONE pass=1 fail=0", 20)
    rc = v.wait_exit(20)
    assert rc == 0, v.report()
    check_chaos_run(v, glueutil.parse_tests(v.log), seed)
