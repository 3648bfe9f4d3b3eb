#!/usr/bin/env python3
"""Run an example and check its output: check_output.py REGEX CMD [ARGS...]

Exits 0 when CMD exits 0 and its stdout matches REGEX (a Python regex,
searched with re.S); prints the output otherwise.
"""
import re
import subprocess
import sys

pattern, cmd = sys.argv[1], sys.argv[2:]
proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
if proc.returncode == 0 and re.search(pattern, proc.stdout, re.S):
    sys.exit(0)
print(f"command: {cmd}\nexit status: {proc.returncode}\nexpected: {pattern!r}")
print("--- stdout ---\n" + proc.stdout + "--- stderr ---\n" + proc.stderr)
sys.exit(1)
