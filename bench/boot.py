#!/usr/bin/env python3
"""Boot benchmark: glue against QEMU's microvm on the same test guest.

Runs the freestanding test guest (tests/guest/) under glue and under
qemu-system-x86_64 -M microvm, alternating glue/QEMU runs, and reports per
VMM the median (and p10/p90) of wall time from spawn to exit, CPU time
(user + sys of the VMM process, all its threads) and peak RSS, plus the
glue/QEMU ratio of the medians. Results go to stdout and, unless
--no-write, into the generated section of docs/performance.md.

This is a measurement, not a test: bad numbers never make it fail. It exits
non-zero only on misuse (2) or when a VMM cannot run the guest at all (1).
Python 3 standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import re
import selectors
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'testhost'))
import testhost  # noqa: E402
DOC_DEFAULT = os.path.join(REPO, 'docs', 'performance.md')
BEGIN = '<!-- bench/boot.py: generated section begins; edits inside are overwritten -->'
END = '<!-- bench/boot.py: generated section ends -->'

# Each scenario runs the same guest checks on both VMMs. Both end through
# the guest's debug-exit write (port 0x501) before it tries the i8042 reset,
# because microvm has no i8042: a reset there would hang in the guest's hlt.
SCENARIOS = {
    'boot': {
        'mem': 512, 'cpus': 1, 'checks': ['boot'], 'extra': [],
        'what': '512 MiB, 1 vCPU, `glue.test=boot`',
    },
    'smp': {
        'mem': 2048, 'cpus': 4, 'checks': ['boot', 'mem', 'smp'],
        'extra': ['glue.expect_cpus=4'],
        'what': '2 GiB, 4 vCPUs, `glue.test=boot,mem,smp glue.expect_cpus=4`',
    },
}

# Exit status each VMM gives when the guest wrote 0 ("all passed") to 0x501:
# glue maps it to 0; QEMU's isa-debug-exit exits with (value << 1) | 1.
OK_STATUS = {'glue': 0, 'qemu': 1}


class Misuse(Exception):
    pass


def cmdline(sc):
    return ' '.join(['glue.test=' + ','.join(sc['checks'])] + sc['extra'])


def glue_cmd(glue, guest, sc):
    return [glue, 'run', '-k', guest, '--no-default-params', '-p', cmdline(sc),
            '-m', str(sc['mem']), '-c', str(sc['cpus']), '--cpu', 'host',
            '--console', 'stdio', '--debug-exit']


def qemu_cmd(qemu, guest, sc):
    return [qemu, '-M', 'microvm,x-option-roms=off,rtc=on', '-enable-kvm',
            '-cpu', 'host', '-m', str(sc['mem']), '-smp', str(sc['cpus']),
            '-nodefaults', '-no-user-config', '-nographic', '-serial', 'stdio',
            '-no-reboot', '-device', 'isa-debug-exit,iobase=0x501,iosize=2',
            '-kernel', guest, '-append', cmdline(sc)]


def run_once(cmd, timeout, rss_via=None):
    """Spawn cmd (in its own session, stdin /dev/null, stdout+stderr on a
    pipe) and return a dict with wall (s, spawn to reaping the child), cpu (s,
    user+sys of the child and its threads), rss (KiB), status, output.

    ru_maxrss of a child Python spawns directly starts at Python's own peak
    RSS (the kernel carries the parent's high-water mark over fork and exec),
    which hides a small VMM. So with rss_via (GNU time's path) the command
    runs under `time -f %M`, a small C program, and rss is what it reports;
    such runs are for RSS only, as time's fork adds to wall and CPU."""
    rss_file = None
    if rss_via:
        fd, rss_file = tempfile.mkstemp(prefix='glue-bench-', suffix='.rss')
        os.close(fd)
        cmd = [rss_via, '-q', '-f', '%M', '-o', rss_file, '--'] + cmd
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    # A pidfd makes "the process exited" a readable fd.
    pidfd = os.pidfd_open(p.pid)
    out = bytearray()
    fd = p.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ, 'out')
    sel.register(pidfd, selectors.EVENT_READ, 'exit')
    deadline = t0 + timeout
    timed_out = False
    exited = False
    while not exited:
        left = deadline - time.perf_counter()
        if left <= 0:
            # The whole session: under GNU time the VMM is a grandchild.
            # p is not reaped yet, so its pid (the group id) is still ours.
            os.killpg(p.pid, signal.SIGKILL)
            timed_out = True
            break
        for key, _ in sel.select(left):
            if key.data == 'exit':
                exited = True
            else:
                chunk = os.read(fd, 65536)
                if chunk:
                    out += chunk
                else:
                    sel.unregister(fd)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    sel.close()
    os.close(pidfd)
    # Drain what the child wrote just before exiting. Non-blocking: a
    # leftover grandchild (after a timeout) may still hold the pipe.
    os.set_blocking(fd, False)
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
    except BlockingIOError:
        pass
    p.stdout.close()
    rss = ru.ru_maxrss
    if rss_file:
        try:
            with open(rss_file) as f:
                rss = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            rss = None
        os.unlink(rss_file)
    return {
        'wall': wall,
        'cpu': ru.ru_utime + ru.ru_stime,
        'rss': rss,
        'status': p.returncode,
        'timed_out': timed_out,
        'output': out.decode('utf-8', 'replace'),
    }


def verdict(vmm, sc, r):
    """None if the run did what it should, else why not."""
    if r['timed_out']:
        return 'timed out'
    out = r['output']
    for check in sc['checks']:
        if not re.search(r'^TEST %s PASS\b' % re.escape(check), out, re.M):
            m = re.search(r'^TEST %s FAIL.*$' % re.escape(check), out, re.M)
            return m.group(0) if m else 'no "TEST %s" line' % check
    if not re.search(r'^GUEST DONE pass=%d fail=0$' % len(sc['checks']), out, re.M):
        return 'no "GUEST DONE pass=%d fail=0" line' % len(sc['checks'])
    if r['status'] != OK_STATUS[vmm]:
        return 'exit status %d (expected %d)' % (r['status'], OK_STATUS[vmm])
    return None


def pct(xs, q):
    """q-th percentile (0..100), linear interpolation between order stats."""
    s = sorted(xs)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * q / 100.0
    i = int(k)
    j = min(i + 1, len(s) - 1)
    return s[i] + (s[j] - s[i]) * (k - i)


def summarize(vals):
    return {'median': statistics.median(vals), 'p10': pct(vals, 10), 'p90': pct(vals, 90),
            'min': min(vals), 'max': max(vals), 'n': len(vals)}


METRICS = [
    # key, label, unit, scale from the stored unit
    ('wall', 'wall time', 'ms', 1000.0),
    ('cpu', 'CPU time (user+sys)', 'ms', 1000.0),
    ('rss', 'peak RSS', 'MiB', 1 / 1024.0),
]


def fmt(v, unit):
    return '%.1f' % v if unit == 'MiB' or v >= 10 else '%.2f' % v


def bench_scenario(name, sc, cmds, runs, timeout, rss_via, floor, log):
    """Warm up each VMM once, then alternate glue/QEMU runs: per round a timed
    run of each and, with GNU time (rss_via), an RSS run of each. Returns a
    dict with samples, failures and summaries; 'broken' is (vmm, why, output)
    when a warm-up run failed, and then nothing else is run. Each round also
    spawns `true` once and appends it to floor, so the harness's own cost is
    sampled under the same load as the VMMs."""
    res = {'name': name, 'samples': {'glue': [], 'qemu': []},
           'rss_samples': {'glue': [], 'qemu': []},
           'failures': {'glue': [], 'qemu': []}, 'broken': None, 'stats': {}}
    for vmm in ('glue', 'qemu'):
        r = run_once(cmds[vmm], timeout)
        why = verdict(vmm, sc, r)
        if why:
            res['broken'] = (vmm, why, r['output'])
            return res
    kinds = [('samples', None)] + ([('rss_samples', rss_via)] if rss_via else [])
    true = shutil.which('true') or '/bin/true'
    for i in range(runs):
        floor.append(run_once([true], timeout))
        for into, via in kinds:
            for vmm in ('glue', 'qemu'):
                r = run_once(cmds[vmm], timeout, via)
                why = verdict(vmm, sc, r)
                if not why and r['rss'] is None:
                    why = 'no RSS from GNU time'
                if why:
                    # A failed run is reported, never timed.
                    what = 'run' if via is None else 'RSS run'
                    res['failures'][vmm].append('%s %d: %s' % (what, i + 1, why))
                    log('  %s %s %d FAILED: %s' % (vmm, what, i + 1, why))
                else:
                    res[into][vmm].append(r)
        if (i + 1) % 10 == 0:
            log('  %s: %d/%d rounds' % (name, i + 1, runs))
    for vmm in ('glue', 'qemu'):
        timed = res['samples'][vmm]
        rss = res['rss_samples'][vmm] if rss_via else timed
        st = {}
        if timed:
            st['wall'] = summarize([x['wall'] for x in timed])
            st['cpu'] = summarize([x['cpu'] for x in timed])
        if rss:
            st['rss'] = summarize([x['rss'] for x in rss])
        res['stats'][vmm] = st
    return res


def table(res):
    """Markdown table of one scenario's results."""
    st = res['stats']
    lines = ['| metric | glue median | QEMU median | glue/QEMU | glue p10–p90 | QEMU p10–p90 |',
             '|---|---:|---:|---:|---:|---:|']
    def cell(s, scale, unit):
        return '%s %s' % (fmt(s['median'] * scale, unit), unit) if s else 'n/a'

    def spread(s, scale, unit):
        if not s:
            return 'n/a'
        return '%s–%s %s' % (fmt(s['p10'] * scale, unit), fmt(s['p90'] * scale, unit), unit)

    for key, label, unit, scale in METRICS:
        g = st.get('glue', {}).get(key)
        q = st.get('qemu', {}).get(key)
        ratio = '%.2f' % (g['median'] / q['median']) if g and q and q['median'] else 'n/a'
        lines.append('| %s | %s | %s | %s | %s | %s |' % (
            label, cell(g, scale, unit), cell(q, scale, unit), ratio,
            spread(g, scale, unit), spread(q, scale, unit)))
    lines.append('| good runs (timed + RSS) | %d + %d | %d + %d | | | |' % (
        len(res['samples']['glue']), len(res['rss_samples']['glue']),
        len(res['samples']['qemu']), len(res['rss_samples']['qemu'])))
    return lines


def summary_sentence(res):
    st = res['stats']
    parts = []
    for key, label, unit, scale in METRICS:
        if key not in st['glue'] or key not in st['qemu']:
            continue
        g, q = st['glue'][key]['median'], st['qemu'][key]['median']
        if not q:
            continue
        r = g / q
        if r < 1:
            parts.append('%s %.0f%% lower' % (label.split(' (')[0], (1 - r) * 100))
        else:
            parts.append('%s %.0f%% higher' % (label.split(' (')[0], (r - 1) * 100))
    if not parts:
        return 'No comparison: a VMM has no successful runs.'
    return 'glue vs QEMU (medians): ' + ', '.join(parts) + '.'


def host_info(build_dir):
    cpu = '?'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    mods = set(os.listdir('/sys/module')) if os.path.isdir('/sys/module') else set()
    if testhost.inside():
        kvm = ('nested: kvm_amd inside the test host (QEMU TCG -cpu max, no native /dev/kvm '
               'here; not bare-metal numbers, the ratios are side by side)')
    elif 'kvm_pvm' in mods:
        kvm = 'PVM (kvm_pvm: guest code mostly runs through KVM\'s instruction emulator)'
    elif 'kvm_intel' in mods:
        kvm = 'hardware (kvm_intel, VT-x)'
    elif 'kvm_amd' in mods:
        kvm = 'hardware (kvm_amd, AMD-V)'
    else:
        kvm = 'unknown'
    mem = '?'
    try:
        with open('/proc/meminfo') as f:
            mem = '%.0f GiB' % (int(f.readline().split()[1]) / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    opts = {}
    try:
        with open(os.path.join(build_dir, 'meson-info', 'intro-buildoptions.json')) as f:
            opts = {o['name']: o['value'] for o in json.load(f)}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return {
        'cpu': cpu, 'ncpu': os.cpu_count(), 'mem': mem,
        'kernel': '%s %s' % (platform.system(), platform.release()), 'kvm': kvm,
        'buildtype': opts.get('buildtype', '?'), 'sanitize': opts.get('b_sanitize', '?'),
    }


def version(cmd):
    try:
        r = run_once(cmd, 10)
    except OSError:
        return '?'
    lines = r['output'].strip().splitlines()
    return lines[0].strip() if lines and not r['timed_out'] else '?'


def rel(path):
    """Path relative to the repo root for the docs, when it is inside it."""
    r = os.path.relpath(path, REPO)
    return path if r.startswith('..') else r


def generated_section(results, host, info, runs, load):
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    h = info['harness']
    L = [BEGIN, '', '## Latest results', '',
         'Measured %s by `bench/boot.py --runs %d`: per scenario one warm-up run of each VMM, then %d '
         'rounds of alternating glue/QEMU runs. Only runs whose guest printed every `TEST ... PASS` '
         'line and `GUEST DONE pass=N fail=0` and that exited through debug-exit with the expected '
         'status are counted.' % (now, runs, runs), '',
         '- Host: %s, %d CPUs, %s RAM; %s' % (host['cpu'], host['ncpu'], host['mem'], host['kernel']),
         '- KVM: %s' % host['kvm'],
         '- glue: %s, meson buildtype `%s`, b_sanitize `%s`' % (
             info['glue_version'], host['buildtype'], host['sanitize']),
         '- QEMU: %s' % info['qemu_version'],
         '- Load average (1 min) before / after: %s / %s' % load,
         '- Harness floor: spawning `/bin/true` the same way takes %.2f ms wall, %.2f ms CPU '
         '(included in both VMMs\' numbers)' % (h['wall'] * 1000, h['cpu'] * 1000),
         '- %s' % info['rss_method'], '']
    for res in results:
        sc = SCENARIOS[res['name']]
        L += ['### Scenario `%s`: %s' % (res['name'], sc['what']), '']
        if res['broken']:
            vmm, why, _ = res['broken']
            L += ['Not measured: the %s warm-up run failed (%s).' % (vmm, why), '']
            continue
        L += table(res)
        L += ['']
        for vmm in ('glue', 'qemu'):
            if res['failures'][vmm]:
                L += ['%d failed %s runs (not counted): %s' % (
                    len(res['failures'][vmm]), vmm, '; '.join(res['failures'][vmm][:5])), '']
        L += [summary_sentence(res), '']
        L += ['```sh', shlex.join(res['cmds_doc']['glue']), shlex.join(res['cmds_doc']['qemu']),
              '```', '']
    L += [END]
    return '\n'.join(L) + '\n'


DOC_TEMPLATE = """# Performance

How glue compares with QEMU's `microvm` machine on process start-up and footprint, measured by
`bench/boot.py` (see `bench/README.md`). The section between the markers below is rewritten by each
run; the rest is written by hand.

{section}
"""


def write_doc(path, section):
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = None
    if old and BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        new = head + section.rstrip('\n') + tail
    else:
        new = DOC_TEMPLATE.format(section=section.rstrip('\n')) + (old or '')
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(new)
    os.replace(tmp, path)


def loadavg():
    try:
        with open('/proc/loadavg') as f:
            return f.read().split()[0]
    except OSError:
        return '?'


def harness_floor(samples, gnu_time, timeout):
    """What the measuring itself costs: medians of `true` spawned like a VMM;
    RSS as the chosen RSS method reads it."""
    floor = {'wall': statistics.median(r['wall'] for r in samples),
             'cpu': statistics.median(r['cpu'] for r in samples),
             'rss': statistics.median(r['rss'] for r in samples)}
    if gnu_time:
        true = shutil.which('true') or '/bin/true'
        rss = [run_once([true], timeout, gnu_time)['rss'] for _ in range(3)]
        floor['rss'] = max((x for x in rss if x is not None), default=floor['rss'])
    return floor


def print_table(res):
    rows = [[c.strip() for c in line.strip('|').split('|')] for line in table(res)
            if not line.startswith('|---')]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print('  ' + '  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())


def main(argv):
    ap = argparse.ArgumentParser(
        description='Measure glue against QEMU microvm booting the same test guest: '
        'wall time (spawn to exit), CPU time and peak RSS over alternating runs. '
        'Prints medians and glue/QEMU ratios and writes them to docs/performance.md. '
        'Exit status: 0 measured (whatever the numbers), 1 no scenario could be measured '
        '(a VMM cannot run the guest), 2 misuse.')
    ap.add_argument('--build-dir', default=os.path.join(REPO, 'build'),
            help='meson build directory with cli/glue and tests/guest/ (default: %(default)s)')
    ap.add_argument('--runs', type=int, default=30,
            help='rounds per scenario; each round runs each VMM once timed and once for RSS '
            '(default: %(default)s)')
    ap.add_argument('--scenario', action='append', choices=list(SCENARIOS),
            help='scenario to run (repeatable; default: all): ' +
            '; '.join('%s = %s' % (k, v['what'].replace('`', '')) for k, v in SCENARIOS.items()))
    ap.add_argument('--qemu', default='qemu-system-x86_64', help='QEMU binary (default: %(default)s)')
    ap.add_argument('--gnu-time', default='/usr/bin/time',
            help='GNU time, used to read peak RSS without the harness\'s own (Debian package '
            '"time"; default: %(default)s); without it RSS comes from wait4 and has a ~15 MiB floor')
    ap.add_argument('--timeout', type=float, default=30.0,
            help='seconds before a run is killed (default: %(default)s)')
    ap.add_argument('--doc', default=DOC_DEFAULT, help='markdown file to update (default: %(default)s)')
    ap.add_argument('--no-write', action='store_true', help='print only; leave the markdown file alone')
    ap.add_argument('--json', metavar='FILE', help='also write raw samples and summaries as JSON')
    ap.add_argument('-q', '--quiet', action='store_true', help='no progress lines on stderr')
    args = ap.parse_args(argv)

    if args.runs < 1:
        raise Misuse('--runs must be at least 1')
    if args.timeout <= 0:
        raise Misuse('--timeout must be positive')
    build = os.path.abspath(args.build_dir)
    glue = os.path.join(build, 'cli', 'glue')
    guest = os.path.join(build, 'tests', 'guest', 'glue-test-guest.elf')
    if not os.access(glue, os.X_OK):
        raise Misuse('%s: no glue binary (build first: ninja -C %s, or pass --build-dir)' % (glue, build))
    if not os.path.isfile(guest):
        raise Misuse('%s: no test guest (configure with -Dtests=true and build)' % guest)
    qemu = shutil.which(args.qemu)
    if not qemu:
        raise Misuse('%s: not found (install Debian\'s qemu-system-x86, or pass --qemu PATH)' % args.qemu)
    if testhost.needed():
        # No usable KVM here: the whole benchmark moves into the test host,
        # glue and QEMU side by side there, as one run.
        why = testhost.want_testhost()[1]
        print('bench: %s: running inside the test host (scripts/testhost)' % why, file=sys.stderr)
        rw = [os.path.dirname(os.path.abspath(args.doc))]
        if args.json:
            rw.append(os.path.dirname(os.path.abspath(args.json)))
        raise SystemExit(testhost.run([sys.executable, os.path.abspath(__file__)] + argv,
                                      rw=sorted(set(rw))))
    if not os.access('/dev/kvm', os.R_OK | os.W_OK):
        raise Misuse('/dev/kvm: not accessible; both VMMs need KVM')
    doc_dir = os.path.dirname(os.path.abspath(args.doc))
    if not args.no_write and not os.path.isdir(doc_dir):
        raise Misuse('%s: no such directory for --doc' % doc_dir)

    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    gnu_time = args.gnu_time if os.access(args.gnu_time, os.X_OK) else None
    if not gnu_time:
        log('warning: %s not found (Debian package "time"): peak RSS comes from wait4 and '
            'includes this script\'s own (~15 MiB) floor' % args.gnu_time)
    host = host_info(build)
    info = {'glue_version': version([glue, '--version']), 'qemu_version': version([qemu, '--version'])}
    if host['sanitize'] not in ('none', '?') or host['buildtype'] in ('debug', 'plain'):
        log('warning: build dir is buildtype=%s, b_sanitize=%s: glue numbers will be pessimistic'
            % (host['buildtype'], host['sanitize']))

    load_before = loadavg()
    floor_samples = []
    results = []
    for name in (args.scenario or list(SCENARIOS)):
        sc = SCENARIOS[name]
        cmds = {'glue': glue_cmd(glue, guest, sc), 'qemu': qemu_cmd(qemu, guest, sc)}
        log('%s: %d rounds, alternating glue/QEMU' % (name, args.runs))
        res = bench_scenario(name, sc, cmds, args.runs, args.timeout, gnu_time, floor_samples, log)
        # For the docs: paths relative to the repo, QEMU by name.
        res['cmds_doc'] = {
            'glue': glue_cmd(rel(glue), rel(guest), sc),
            'qemu': qemu_cmd(os.path.basename(qemu), rel(guest), sc),
        }
        results.append(res)
        if res['broken']:
            vmm, why, out = res['broken']
            print('%s: %s cannot run the guest: %s' % (name, vmm, why), file=sys.stderr)
            print('  command: %s' % shlex.join(cmds[vmm]), file=sys.stderr)
            for line in out.strip().splitlines()[-15:]:
                print('  | ' + line, file=sys.stderr)
    load = (load_before, loadavg())

    if not floor_samples:
        # Every scenario broke at its warm-up.
        floor_samples = [run_once(['true'], args.timeout)]
    info['harness'] = harness_floor(floor_samples, gnu_time, args.timeout)
    floor_mib = info['harness']['rss'] / 1024.0
    if gnu_time:
        info['rss_method'] = (
            'Peak RSS: separate runs (alternating as well) under GNU time `-f %%M`, whose own '
            'fork leaves a floor of %.1f MiB (`/bin/true` reads so); wall and CPU come from runs '
            'spawned directly by Python (`wait4`).' % floor_mib)
    else:
        info['rss_method'] = (
            'Peak RSS: `ru_maxrss` from `wait4` of the timed runs. The kernel carries the '
            'spawning Python\'s peak RSS over fork and exec, so %.1f MiB is a floor: a VMM '
            'shown at about that size is smaller.' % floor_mib)
    h = info['harness']
    print('glue: %s; QEMU: %s' % (info['glue_version'], info['qemu_version']))
    print('host: %s, %s CPUs; %s; KVM %s; load %s -> %s' % (
        host['cpu'], host['ncpu'], host['kernel'], host['kvm'].split(' (')[0], load[0], load[1]))
    print('harness floor (/bin/true): %.2f ms wall, %.2f ms CPU, %.1f MiB RSS%s' % (
        h['wall'] * 1000, h['cpu'] * 1000, floor_mib, '' if gnu_time else ' (wait4 RSS floor!)'))
    for res in results:
        print()
        print('scenario %s: %s' % (res['name'], SCENARIOS[res['name']]['what'].replace('`', '')))
        if res['broken']:
            print('  not measured (%s warm-up failed)' % res['broken'][0])
            continue
        print_table(res)
        for vmm in ('glue', 'qemu'):
            if res['failures'][vmm]:
                print('  %d failed %s runs (not counted)' % (len(res['failures'][vmm]), vmm))
        print('  ' + summary_sentence(res))

    if args.json:
        keep = ('wall', 'cpu', 'rss', 'status')
        dump = []
        for r in results:
            d = {k: r[k] for k in ('name', 'failures', 'stats', 'cmds_doc')}
            d['broken'] = list(r['broken'][:2]) if r['broken'] else None
            for k in ('samples', 'rss_samples'):
                d[k] = {vmm: [{f: x[f] for f in keep} for x in r[k][vmm]] for vmm in r[k]}
            dump.append(d)
        with open(args.json, 'w') as f:
            json.dump({'host': host, 'info': info, 'runs': args.runs, 'load': load,
                       'results': dump}, f, indent=1)

    measured = [r for r in results if not r['broken']]
    if not args.no_write and measured:
        write_doc(args.doc, generated_section(results, host, info, args.runs, load))
        print('\nwrote %s' % args.doc)
    # A scenario a VMM cannot run is reported above; only "nothing could be
    # measured at all" is an error.
    return 0 if measured else 1


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except (Misuse, OSError) as e:
        # OSError: a VMM that cannot be executed, a --doc/--json that cannot
        # be written.
        print('boot.py: %s' % e, file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
