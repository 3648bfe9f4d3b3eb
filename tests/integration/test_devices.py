# SPDX-License-Identifier: MIT
"""Emulated devices seen from inside the test guest: the CMOS RTC and the
i8042's reset line."""

import datetime
import re
import time

import pytest

import glueutil

pytestmark = pytest.mark.devices


def test_rtc_date_is_host_utc(run_guest):
    if not glueutil.have("rtc"):
        pytest.skip("built with -Drtc=false")
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    v, tests, _ = run_guest("rtc")
    after = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert "rtc" in tests and tests["rtc"][0] == "PASS", v.report()
    date = tests["rtc"][1].get("date")
    assert date, v.report()
    seen = datetime.datetime.strptime(date, "%Y-%m-%dT%H:%M:%S")
    slack = datetime.timedelta(minutes=2)
    assert before - slack <= seen <= after + slack, \
        f"guest RTC says {seen}, host UTC was {before}..{after}\n{v.report()}"


def test_rtc_advances(run_guest):
    """Two runs a few seconds apart see the RTC move on by about as much."""
    if not glueutil.have("rtc"):
        pytest.skip("built with -Drtc=false")
    dates = []
    for _ in range(2):
        t0 = time.time()
        v, tests, _ = run_guest("rtc")
        assert tests.get("rtc", ("FAIL",))[0] == "PASS", v.report()
        dates.append((t0, datetime.datetime.strptime(tests["rtc"][1]["date"], "%Y-%m-%dT%H:%M:%S")))
        time.sleep(2.2)
    host = dates[1][0] - dates[0][0]
    guest = (dates[1][1] - dates[0][1]).total_seconds()
    assert abs(guest - host) <= 2.5, f"RTC moved {guest} s while the host moved {host:.1f} s"


def test_i8042_reset_ends_vm(vm, guest, timeouts):
    if not glueutil.have("i8042"):
        pytest.skip("built with -Di8042=false")
    v = vm(guest("elf"), "-c", "2", params="glue.test=reset", verbose=True)
    rc = v.wait_exit(20)
    assert rc == 0, v.report()
    # -v says why the VM ended (the command line it also prints has the word
    # "reset" in it: look for glue's own line).
    assert re.search(r"^glue: guest reset through the i8042$", v.stderr, re.M), \
        f"-v should say why the VM ended\n{v.report()}"


def test_i8042_reset_from_bzimage(vm, guest):
    if not glueutil.have("i8042"):
        pytest.skip("built with -Di8042=false")
    v = vm(guest("bzImage"), params="glue.test=reset")
    assert v.wait_exit(20) == 0, v.report()
