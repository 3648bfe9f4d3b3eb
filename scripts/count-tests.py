#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The closing line of scripts/test.sh: every test case counted once, from
every `meson test` run in the given build directories (native and inside
the test host: meson-logs/testlog-<logbase>.json each).

A meson test with a report of its own cases counts those: Criterion's JSON
(tests/unit/test_<name>.json, so a skipped Criterion test is a skip, not a
pass) and pytest's JUnit XML (tests/*/pytest-<name>.xml). A
report that shows no failure for a test that meson saw fail (a crash after
the report, a sanitizer at exit, a timeout) adds one failure. Tests without
a report count as one case each.

    scripts/count-tests.py BUILDDIR... [--skips]

Names every failed case, and with --skips every skipped one, before the line.
"""

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

BAD = {"FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS"}


def criterion(path):
    d = json.loads(path.read_text())
    fails, skips = [], []
    for s in d.get("test_suites", []):
        for t in s.get("tests", []):
            name = f"{s['name']}::{t['name']}"
            if t["status"] in ("FAILED", "ERRORED"):
                fails.append(name)
            elif t["status"] == "SKIPPED":
                skips.append(f"{name} ({'; '.join(t.get('messages', []))})")
    return d["passed"], d["failed"] + d["errored"], d["skipped"], fails, skips


def junit(path):
    root = ET.parse(path).getroot()
    passed = failed = skipped = 0
    fails, skips = [], []
    for c in root.iter("testcase"):
        name = f"{c.get('classname', '').split('.')[-1]}::{c.get('name')}"
        if c.find("failure") is not None or c.find("error") is not None:
            failed += 1
            fails.append(name)
        elif c.find("skipped") is not None:
            skipped += 1
            msg = c.find("skipped").get("message", "")
            skips.append(f"{name} ({msg[:160]})")
        else:
            passed += 1
    return passed, failed, skipped, fails, skips


def report_for(build, name):
    unit = build / "tests" / "unit" / f"test_{name}.json"
    if unit.is_file():
        return criterion, unit
    for xml in (build / "tests").glob(f"*/pytest-{name}.xml"):
        return junit, xml
    return None, None


def main(argv):
    listing = "--skips" in argv
    dirs = [Path(a) for a in argv if a != "--skips"]
    passed = failed = skipped = 0
    fails, skips = [], []
    runs = 0
    for build in dirs:
        logs = sorted((build / "meson-logs").glob("testlog-*.json"))
        for log in logs:
            runs += 1
            where = f"{build.name}/{log.stem[len('testlog-'):]}"
            for line in log.read_text(errors="replace").splitlines():
                try:
                    t = json.loads(line)
                except ValueError:
                    continue
                # "glue:unit / error" -> "error"
                name, result = t.get("name", "?").split(" / ")[-1], t.get("result", "ERROR")
                parse, path = report_for(build, name)
                if parse:
                    try:
                        p, f, s, fl, sk = parse(path)
                    except (OSError, ValueError, KeyError, ET.ParseError) as e:
                        p, f, s, fl, sk = 0, 1, 0, [f"unreadable report {path}: {e}"], []
                    if result in BAD and f == 0:
                        f, fl = 1, [f"(meson: {result})"]
                    passed, failed, skipped = passed + p, failed + f, skipped + s
                    fails += [f"{where} {name}: {x}" for x in fl]
                    skips += [f"{where} {name}: {x}" for x in sk]
                elif result == "SKIP":
                    skipped += 1
                    skips.append(f"{where} {name}")
                elif result in BAD:
                    failed += 1
                    fails.append(f"{where} {name} ({result})")
                else:
                    passed += 1
    if runs == 0:
        failed += 1
        fails.append("no test results found (meson-logs/testlog-*.json)")
    for x in fails:
        print(f"FAILED  {x}")
    if listing:
        for x in skips:
            print(f"SKIPPED {x}")
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
