#!/usr/bin/env python3
"""Network benchmark: glue's virtio-net against QEMU's, same guest, same backend.

Boots Debian's stock kernel with a busybox initramfs under glue (virtio-pci,
--net user) and under qemu-system-x86_64 (q35, virtio-net-pci on -netdev
user: both are libslirp), alternating. The guest takes a DHCP lease, then
against an HTTP server of this script on the host's loopback (reached at
the gateway, 10.0.2.2):

  download   GET of SIZE MiB, host to guest (wget -O /dev/null)
  upload     POST of SIZE MiB from the guest's tmpfs, guest to host
  requests   50 GETs of a few bytes one after another: request/response
             latency, including the guest's process start (the same on both)

The guest's own clock (/proc/uptime, 10 ms) times each step. Prints MB/s (and
requests/s) per VMM and the glue/QEMU ratio of the medians. With --tap, the
same over a tap device each (needs root): glue --net tap=IF,vhost=off against
QEMU's -netdev tap,vhost=off, both data paths in userspace; --vhost puts both
on the kernel's vhost-net instead.

A measurement, not a test: exits 0 whatever the numbers, 2 on misuse, 1 when
a VMM cannot run the guest. Python 3 standard library only.
"""

import argparse
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading

from guestbench import REPO, guest_run, testhost

MiB = 1 << 20
PARAMS = 'console=ttyS0 panic=-1 quiet reboot=k'
UDHCPC = b'''#!/bin/sh
case "$1" in bound|renew)
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route add default via "$router" ;;
esac
'''
# Run by the guest's init, then it powers off. Lines: BENCH name units centiseconds.
SCRIPT = r'''
up() { read u _ < /proc/uptime; echo "${u%%.*}${u#*.}"; }
ip link set eth0 up
if [ -n "$(cat /proc/cmdline | grep -o 'bench.ip=[^ ]*')" ]; then
    a=$(cat /proc/cmdline | grep -o 'bench.ip=[^ ]*'); a=${a#bench.ip=}
    ip addr add "$a/24" dev eth0; gw=${a%.*}.1
else
    udhcpc -i eth0 -n -q -t 10 -s /etc/udhcpc.sh >/dev/null 2>&1; gw=10.0.2.2
fi
p=$(cat /proc/cmdline | grep -o 'bench.port=[0-9]*'); U=http://$gw:${p#bench.port=}
n=$(cat /proc/cmdline | grep -o 'bench.mib=[0-9]*'); n=${n#bench.mib=}
wget -q -O /dev/null $U/small || echo "BENCH-FAIL no server at $U"
t0=$(up); wget -q -O /dev/null $U/big; t1=$(up)
echo "BENCH download $((n * 1048576)) $((t1 - t0))"
# busybox wget posts a file as a C string (up to its first NUL byte): none in it
tr -d '\000' < /dev/urandom | head -c $((n * 1048576)) > /tmp/up
t0=$(up); wget -q -O /dev/null --post-file=/tmp/up $U/up; t1=$(up)
echo "BENCH upload $((n * 1048576)) $((t1 - t0))"
rm /tmp/up
k=50; i=0; t0=$(up)
while [ $i -lt $k ]; do wget -q -O /dev/null $U/small; i=$((i + 1)); done
t1=$(up)
echo "BENCH requests $k $((t1 - t0))"
echo BENCH-DONE
poweroff -f
'''


class Server:
    """GET /big: SIZE MiB; GET /small: a few bytes; POST: read and counted."""

    def __init__(self, addr, size):
        big = os.urandom(MiB) * size
        server = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.0'

            def do_GET(self):
                body = big if self.path == '/big' else b'ok\n'
                self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get('Content-Length', '0'))
                while n > 0:
                    got = self.rfile.read(min(n, MiB))
                    if not got:
                        break
                    n -= len(got)
                server.posted.append(int(self.headers.get('Content-Length', '0')) - n)
                self.send_response(200)
                self.send_header('Content-Length', '3')
                self.end_headers()
                self.wfile.write(b'ok\n')

            def log_message(self, *a):
                pass

        self.posted = []  # bytes of each POST body
        self.srv = http.server.ThreadingHTTPServer((addr, 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def ip(*args):
    subprocess.run(['ip'] + list(args), check=True, capture_output=True)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build-dir', default=os.path.join(REPO, 'build'))
    ap.add_argument('--qemu', default='qemu-system-x86_64')
    ap.add_argument('--runs', type=int, default=3, help='rounds (each: glue, then QEMU)')
    ap.add_argument('--size', type=int, default=32, help='MiB each way (default 32)')
    ap.add_argument('--tap', action='store_true', help='tap against tap (root) instead of user')
    ap.add_argument('--vhost', action='store_true', help='with --tap: vhost-net on both')
    ap.add_argument('--timeout', type=float, default=600.0)
    args = ap.parse_args(argv)

    glue = os.path.join(os.path.abspath(args.build_dir), 'cli', 'glue')
    qemu = shutil.which(args.qemu)
    if not os.access(glue, os.X_OK) or not qemu or args.runs < 1 or args.size < 1:
        print('bench: need %s, a QEMU (%s), --runs >= 1, --size >= 1' % (glue, args.qemu),
              file=sys.stderr)
        return 2
    if testhost.needed():
        print('bench: %s: running inside the test host' % testhost.want_testhost()[1],
              file=sys.stderr)
        return testhost.run([sys.executable, os.path.abspath(__file__)] + argv)

    import stockkernel
    kernel = stockkernel.vmlinuz()
    tap = 'gluebench%d' % (os.getpid() % 1000)
    if args.tap:
        ip('tuntap', 'add', 'dev', tap, 'mode', 'tap')
        ip('addr', 'add', '192.168.78.1/24', 'dev', tap)
        ip('link', 'set', tap, 'up')
    srv = Server('192.168.78.1' if args.tap else '127.0.0.1', args.size)
    params = '%s bench.port=%d bench.mib=%d%s' % (PARAMS, srv.port, args.size,
                                                 ' bench.ip=192.168.78.2' if args.tap else '')
    try:
        with tempfile.TemporaryDirectory(prefix='glue-bench-') as tmp:
            initrd = os.path.join(tmp, 'initramfs.cpio')
            with open(initrd, 'wb') as f:
                f.write(stockkernel.busybox_initramfs(
                    modules=['virtio_pci', 'virtio_net'], rc_local=SCRIPT,
                    files={'etc/udhcpc.sh': (UDHCPC, 0o755)}))
            vhost = 'on' if args.vhost else 'off'
            net_glue = ['--net', 'tap=%s,vhost=%s' % (tap, vhost) if args.tap else 'user']
            net_qemu = ['-netdev', 'tap,id=n0,ifname=%s,script=no,downscript=no,vhost=%s' % (
                tap, vhost) if args.tap else 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0']
            cmds = {
                'glue': [glue, 'run', '-k', kernel, '-i', initrd, '-m', '512', '-c', '1',
                         '--no-rng', '--console', 'stdio', '--no-default-params', '-p',
                         params] + net_glue,
                'qemu': [qemu, '-machine', 'q35,accel=kvm', '-cpu', 'host', '-m', '512',
                         '-smp', '1', '-kernel', kernel, '-initrd', initrd, '-append', params,
                         '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio'] +
                        net_qemu,
            }
            samples = {'glue': [], 'qemu': []}
            for rnd in range(args.runs):
                for vmm in ('glue', 'qemu'):
                    try:
                        srv.posted.clear()
                        samples[vmm].append(guest_run(cmds[vmm], args.timeout, 3))
                        if srv.posted != [args.size * MiB]:
                            raise RuntimeError('the upload posted %s bytes, not %d' %
                                               (srv.posted, args.size * MiB))
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        print('bench: %s failed: %s' % (vmm, e), file=sys.stderr)
                        return 1
                    print('bench: round %d %s done' % (rnd + 1, vmm), file=sys.stderr)
    finally:
        srv.close()
        if args.tap:
            subprocess.run(['ip', 'link', 'del', tap], capture_output=True)

    print('network benchmark: %s backend, %d MiB each way, 1 vCPU, virtio-net-pci, '
          '%d rounds (medians)' % (('tap, vhost-net' if args.vhost else 'tap') if args.tap
                                    else 'user (libslirp)', args.size, args.runs))
    print('%-10s %14s %14s %8s' % ('', 'glue', 'QEMU', 'ratio'))
    for name in ('download', 'upload', 'requests'):
        def rate(s):
            n, t = s
            return n / t / 1e6 if name != 'requests' else n / t
        unit = 'MB/s' if name != 'requests' else 'req/s'
        g = statistics.median(rate(s[name]) for s in samples['glue'])
        q = statistics.median(rate(s[name]) for s in samples['qemu'])
        print('%-10s %8.1f %5s %8.1f %5s %8.2f' % (name, g, unit, q, unit, g / q))
    print('boot+run wall time (s): glue %.1f, QEMU %.1f' % (
        statistics.median(s['_wall'] for s in samples['glue']),
        statistics.median(s['_wall'] for s in samples['qemu'])))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
