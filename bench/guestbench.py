# SPDX-License-Identifier: MIT
"""What bench/block.py and bench/net.py share: the repository's modules on
the path (testhost, stockkernel), and running a VMM whose guest prints
'BENCH name units centiseconds' lines, then BENCH-DONE."""

import os
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'testhost'))
sys.path.insert(0, os.path.join(REPO, 'tests', 'integration'))
import testhost  # noqa: E402,F401  (the benchmarks' way into the test host)


def guest_run(cmd, timeout, nresults):
    """Run cmd to its end; {name: (units, seconds)} and '_wall'. RuntimeError
    when the guest gave no (or fewer than nresults) results."""
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, errors='replace')
    out = r.stdout.replace('\r', '')
    if 'BENCH-DONE' not in out or 'BENCH-FAIL' in out:
        raise RuntimeError('%s: no result (status %d)\n%s\n%s' % (cmd[0], r.returncode,
                                                                 out[-2000:], r.stderr[-2000:]))
    res = {}
    for m in re.finditer(r'BENCH (\S+) (\d+) (\d+)$', out, re.M):
        res[m.group(1)] = (int(m.group(2)), max(int(m.group(3)), 1) / 100.0)
    if len(res) != nresults:
        raise RuntimeError('%s: incomplete results\n%s' % (cmd[0], out[-3000:]))
    res['_wall'] = time.monotonic() - t0
    return res
