#!/usr/bin/env bash
# Set everything up and run every test: unit (Criterion) and integration
# (pytest) suites in a normal build, then again under ASan+UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

status=0
run() {
	local dir=$1
	shift
	[ -f "$dir/build.ninja" ] || meson setup "$dir" "$@"
	ninja -C "$dir"
	meson test -C "$dir" --print-errorlogs --num-processes 2 2>&1 | tee "$dir/meson-test.out" ||
		status=1
}

run build
GLUE_SANITIZED=1 run build-asan -Db_sanitize=address,undefined -Db_lundef=false

# One closing line for both builds: meson's own tests, with the pytest cases
# of the integration suite counted one by one.
python3 - build build-asan <<'PY'
import re, sys
import xml.etree.ElementTree as ET
passed = failed = skipped = 0
for d in sys.argv[1:]:
    try:
        out = open(f"{d}/meson-test.out", errors="replace").read()
    except OSError:
        failed += 1
        continue
    count = lambda what: sum(int(n) for n in re.findall(rf"^{what}:\s+(\d+)", out, re.M))
    passed += count("Ok")
    failed += count("Fail") + count("Timeout") + count("Unexpected Pass")
    skipped += count("Skipped")
    try:
        suite = ET.parse(f"{d}/tests/integration/pytest-junit.xml").getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        n = int(suite.get("tests"))
        bad = int(suite.get("failures")) + int(suite.get("errors"))
        skip = int(suite.get("skipped"))
        # The suite itself was counted once by meson above.
        passed += n - bad - skip - (1 if bad == 0 else 0)
        failed += bad - (1 if bad else 0)
        skipped += skip
    except (OSError, ET.ParseError, AttributeError, TypeError):
        pass
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
