#!/usr/bin/env python3
"""Block benchmark: glue's virtio-blk against QEMU's, same guest, same image.

Boots Debian's stock kernel with a busybox initramfs under glue (virtio-pci,
the default) and under qemu-system-x86_64 (q35, virtio-blk-pci, cache=
writeback, as glue's default), alternating, and has the guest time with
O_DIRECT (no guest page cache):

  seq-read   1 MiB reads of the whole disk
  seq-write  1 MiB writes of the whole disk, then fsync
  rand-read  4 KiB reads at scattered offsets, one at a time (queue depth 1)
  rand-read-qd1, rand-read-qd32, rand-write-qd32
             4 KiB random reads and writes at queue depth 1 and 32, by bench/qdio.c
             (Linux AIO on O_DIRECT, built static here and put in the initramfs)

The guest's own clock (/proc/uptime, 10 ms) times each step. For reference
it also times the same transfers on the host, with pread/pwrite on the image
(what the device model costs on top of the file). Prints MB/s (and IOPS) per
VMM, the glue/QEMU ratio of the medians, and the host's raw numbers.

Busybox has no fio, so "rand-read" is a shell loop of one dd per read: it
measures the whole request path including the guest's process start, the
same on both VMMs. The queue-depth runs use qdio instead of fio: Debian's
fio pulls in ceph, gluster and RDMA libraries, too much for an initramfs.
Without a C compiler that links static binaries they are left out.

A measurement, not a test: exits 0 whatever the numbers, 2 on misuse, 1 when
a VMM cannot run the guest. Python 3 standard library only.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from guestbench import REPO, guest_run, testhost

MiB = 1 << 20
PARAMS = 'console=ttyS0 panic=-1 quiet reboot=k'
# Run by the guest's init, then it powers off. Lines: BENCH name bytes centiseconds.
SCRIPT = r'''
up() { read u _ < /proc/uptime; echo "${u%%.*}${u#*.}"; }
n=$(($(cat /sys/block/vda/size) / 2048))
t0=$(up); dd if=/dev/vda of=/dev/null bs=1M count=$n iflag=direct 2>/dev/null; t1=$(up)
echo "BENCH seq-read $((n * 1048576)) $((t1 - t0))"
t0=$(up); dd if=/dev/zero of=/dev/vda bs=1M count=$n oflag=direct conv=fsync 2>/dev/null; t1=$(up)
echo "BENCH seq-write $((n * 1048576)) $((t1 - t0))"
k=200; i=0; t0=$(up)
while [ $i -lt $k ]; do
  dd if=/dev/vda of=/dev/null bs=4k count=1 skip=$(( (i * 7919) % (n * 256) )) iflag=direct 2>/dev/null
  i=$((i + 1))
done
t1=$(up)
echo "BENCH rand-read $((k * 4096)) $((t1 - t0))"
if [ -x /bin/qdio ]; then
  qdio /dev/vda read 1 1000 && qdio /dev/vda read 32 4000 && qdio /dev/vda write 32 2000 ||
    echo BENCH-FAIL
fi
echo BENCH-DONE
poweroff -f
'''


QD_TESTS = ('rand-read-qd1', 'rand-read-qd32', 'rand-write-qd32')


def build_qdio(tmp):
    """bench/qdio.c as a static binary, or None (no compiler, no static libc)."""
    out = os.path.join(tmp, 'qdio')
    cc = os.environ.get('CC', 'cc')
    try:
        r = subprocess.run([cc, '-O2', '-static', '-o', out,
                            os.path.join(REPO, 'bench', 'qdio.c')],
                           capture_output=True, text=True, timeout=120)
    except OSError as e:
        print('bench: no queue-depth runs: %s' % e, file=sys.stderr)
        return None
    if r.returncode != 0:
        print('bench: no queue-depth runs: %s' % r.stderr.strip()[-500:], file=sys.stderr)
        return None
    return out


def host_qd(qdio, img):
    """The queue-depth runs on the image itself, on the host."""
    res = {}
    # ten times the guest's counts: the host is fast, and the clock is in centiseconds
    for args in (['read', '1', '10000'], ['read', '32', '40000'], ['write', '32', '20000']):
        r = subprocess.run([qdio, img] + args, capture_output=True, text=True, timeout=300)
        for line in r.stdout.splitlines():
            f = line.split()
            if len(f) == 4 and f[0] == 'BENCH':
                res[f[1]] = (int(f[2]), max(int(f[3]), 1) / 100.0)
    return res


def host_raw(img, size):
    """The same transfers with pread/pwrite on the image, page cache dropped by O_DIRECT."""
    res = {}
    try:
        fd = os.open(img, os.O_RDWR | os.O_DIRECT)
    except OSError:  # tmpfs: no O_DIRECT; then it measures the page cache
        fd = os.open(img, os.O_RDWR)
        res['_cached'] = True
    try:
        import mmap
        buf = mmap.mmap(-1, MiB)
        t0 = time.perf_counter()
        for off in range(0, size, MiB):
            os.preadv(fd, [buf], off)
        res['seq-read'] = (size, time.perf_counter() - t0)
        t0 = time.perf_counter()
        for off in range(0, size, MiB):
            os.pwritev(fd, [buf], off)
        os.fsync(fd)
        res['seq-write'] = (size, time.perf_counter() - t0)
        small = mmap.mmap(-1, 4096)
        t0 = time.perf_counter()
        for i in range(200):
            os.preadv(fd, [small], ((i * 7919) % (size // 4096)) * 4096)
        res['rand-read'] = (200 * 4096, time.perf_counter() - t0)
    except OSError as e:
        print('bench: host raw I/O: %s' % e, file=sys.stderr)
    finally:
        os.close(fd)
    return res


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build-dir', default=os.path.join(REPO, 'build'))
    ap.add_argument('--qemu', default='qemu-system-x86_64')
    ap.add_argument('--runs', type=int, default=3, help='rounds (each: glue, then QEMU)')
    ap.add_argument('--size', type=int, default=128, help='disk size in MiB (default 128)')
    ap.add_argument('--timeout', type=float, default=300.0)
    args = ap.parse_args(argv)

    glue = os.path.join(os.path.abspath(args.build_dir), 'cli', 'glue')
    qemu = shutil.which(args.qemu)
    if not os.access(glue, os.X_OK) or not qemu or args.runs < 1 or args.size < 8:
        print('bench: need %s, a QEMU (%s), --runs >= 1, --size >= 8' % (glue, args.qemu),
              file=sys.stderr)
        return 2
    if testhost.needed():
        print('bench: %s: running inside the test host' % testhost.want_testhost()[1],
              file=sys.stderr)
        return testhost.run([sys.executable, os.path.abspath(__file__)] + argv)

    import stockkernel
    kernel = stockkernel.vmlinuz()
    with tempfile.TemporaryDirectory(prefix='glue-bench-') as tmp:
        qdio = build_qdio(tmp)
        files = {}
        if qdio:
            with open(qdio, 'rb') as f:
                files['bin/qdio'] = (f.read(), 0o755)
        names = ['seq-read', 'seq-write', 'rand-read'] + (list(QD_TESTS) if qdio else [])
        initrd = os.path.join(tmp, 'initramfs.cpio')
        with open(initrd, 'wb') as f:
            f.write(stockkernel.busybox_initramfs(modules=['virtio_pci', 'virtio_blk'],
                                                  files=files, rc_local=SCRIPT))
        img = os.path.join(tmp, 'disk.img')
        with open(img, 'wb') as f:
            for _ in range(args.size):
                f.write(os.urandom(MiB))
        cmds = {
            'glue': [glue, 'run', '-k', kernel, '-i', initrd, '-m', '512', '-c', '1',
                     '--no-rng', '-d', img, '--console', 'stdio', '--no-default-params',
                     '-p', PARAMS],
            'qemu': [qemu, '-machine', 'q35,accel=kvm', '-cpu', 'host', '-m', '512',
                     '-smp', '1', '-kernel', kernel, '-initrd', initrd, '-append', PARAMS,
                     '-drive', 'file=%s,if=none,id=d0,format=raw,cache=writeback' % img,
                     '-device', 'virtio-blk-pci,drive=d0', '-nographic', '-no-reboot',
                     '-nodefaults', '-serial', 'stdio'],
        }
        samples = {'glue': [], 'qemu': []}
        for rnd in range(args.runs):
            for vmm in ('glue', 'qemu'):
                try:
                    samples[vmm].append(guest_run(cmds[vmm], args.timeout, len(names)))
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    print('bench: %s failed: %s' % (vmm, e), file=sys.stderr)
                    return 1
                print('bench: round %d %s done' % (rnd + 1, vmm), file=sys.stderr)
        raw = host_raw(img, args.size * MiB)
        if qdio:
            raw.update(host_qd(qdio, img))

    print('block benchmark: %d MiB raw image, 1 vCPU, 512 MiB, O_DIRECT in the guest, '
          '%d rounds (medians)' % (args.size, args.runs))
    print('%-15s %14s %14s %8s %14s' % ('', 'glue', 'QEMU', 'ratio', 'host raw'))
    for name in names:
        iops = name.startswith('rand-')

        def rate(s):
            b, t = s
            return b / 4096 / t if iops else b / t / 1e6
        unit = 'IOPS' if iops else 'MB/s'
        g = statistics.median(rate(s[name]) for s in samples['glue'])
        q = statistics.median(rate(s[name]) for s in samples['qemu'])
        h = rate(raw[name]) if name in raw else float('nan')
        print('%-15s %9.1f %4s %9.1f %4s %8.2f %9.1f %4s' % (name, g, unit, q, unit, g / q, h,
                                                           unit))
    if raw.get('_cached'):
        print('(host pread: the image is on a file system without O_DIRECT: page cache speed)')
    print('boot+run wall time (s): glue %.1f, QEMU %.1f' % (
        statistics.median(s['_wall'] for s in samples['glue']),
        statistics.median(s['_wall'] for s in samples['qemu'])))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
