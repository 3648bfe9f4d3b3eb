# SPDX-License-Identifier: MIT
"""Debian's stock kernel and a busybox initramfs for the Linux-guest tests.

The kernel comes from testhost/images.py (fetched with apt-get download and
cached, the same package the test host boots): Debian's generic
linux-image-amd64 by default, GLUE_STOCK_FLAVOUR=cloud for the cloud one,
GLUE_STOCK_KERNEL=/path/vmlinuz for any other.

The initramfs is busybox-static with busybox init, set up as a small distro
would be: /etc/init.d/rcS mounts the usual filesystems, loads the kernel
modules asked for, starts acpid (the ACPI power button powers off, as
systemd-logind would), prints GLUE-INIT-42 and the console gets a shell;
Ctrl-Alt-Del reboots, `poweroff` powers off.

Run directly to fill the cache: python3 stockkernel.py"""

import os
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "testhost"))
import images  # noqa: E402
from images import Unavailable  # noqa: E402,F401  (re-exported for the tests)


def flavour():
    f = os.environ.get("GLUE_STOCK_FLAVOUR", "generic")
    if f not in images.FLAVOURS:
        raise Unavailable(f"GLUE_STOCK_FLAVOUR={f}: use one of {', '.join(images.FLAVOURS)}")
    return f


def kernel():
    """The images.Kernel of the stock kernel (modules included)."""
    return images.kernel(flavour())


def vmlinuz():
    """Path of the stock vmlinuz (a bzImage), fetched if needed."""
    forced = os.environ.get("GLUE_STOCK_KERNEL")
    if forced:
        if not Path(forced).is_file():
            raise Unavailable(f"GLUE_STOCK_KERNEL={forced} does not exist")
        return Path(forced)
    return kernel().vmlinuz


def vmlinux():
    """The ELF vmlinux inside the stock vmlinuz (cached beside it)."""
    forced = os.environ.get("GLUE_STOCK_KERNEL")
    if not forced:
        return kernel().vmlinux
    z = Path(forced)
    out = images.cache_root() / "kernels" / f"{z.name}-{z.stat().st_size}.vmlinux"
    if not out.is_file():
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(images.unpack_bzimage(z.read_bytes()))
        os.replace(tmp, out)
    return out


def elf_has_pvh_note(data):
    """Whether an ELF64 has Xen's PHYS32_ENTRY note (type 18, name "Xen")."""
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type != 4:
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name = data[pos + 12: pos + 12 + namesz]
            if ntype == 18 and name.rstrip(b"\0") == b"Xen":
                return True
            pos += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
    return False


# ---------------------------------------------------------------------------
# initramfs

# Modules every test guest gets: the ACPI power button and the input events
# acpid reads it from; the virtio transports (Debian builds virtio as
# modules), the virtio devices glue has, and ext4 for the disk tests.
# virtio_net brings net_failover and failover along.
BASE_MODULES = ["button", "evdev", "virtio_mmio", "virtio_pci", "virtio_rng", "virtio_blk",
                "virtio_net", "ext4"]

INIT = """#!/bin/sh
# busybox init runs /etc/inittab
exec /bin/busybox init
"""

INITTAB = """::sysinit:/etc/init.d/rcS
::respawn:/bin/cttyhack /bin/sh
::ctrlaltdel:/bin/reboot
::shutdown:/bin/sync
"""

RCS = """#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /tmp /run /mnt
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
if [ -f /lib/modules/load ]; then
    while read -r m; do insmod "$m" || echo "GLUE-INIT: insmod $m failed"; done </lib/modules/load
fi
acpid -c /etc/acpi -l /tmp/acpid.log
[ -x /etc/init.d/rc.local ] && /etc/init.d/rc.local
echo GLUE-INIT-$((40+2))
"""

# busybox acpid runs /etc/acpi/<event>/<code> for an event: the power
# button's is PWRF/00000080.
POWER_BUTTON = """#!/bin/sh
echo GLUE-POWER-BUTTON >/dev/console
poweroff
"""


def busybox_initramfs(modules=(), files=None, rc_local=None, kern=None):
    """An uncompressed initramfs (bytes): busybox init as above, with the
    given modules (names; dependencies added) of the stock kernel and extra
    files {path: data or (data, mode)}; rc_local is a shell snippet run before the
    GLUE-INIT-42 line. kern: an images.Kernel (default: the stock one; with
    GLUE_STOCK_KERNEL, modules cannot be had and none are added)."""
    mods = list(BASE_MODULES) + list(modules)
    if kern is None and not os.environ.get("GLUE_STOCK_KERNEL"):
        kern = kernel()
    extra = {"etc/inittab": INITTAB, "etc/init.d/rcS": (RCS, 0o755),
             "etc/acpi/PWRF/00000080": (POWER_BUTTON, 0o755)}
    if rc_local:
        extra["etc/init.d/rc.local"] = ("#!/bin/sh\n" + rc_local + "\n", 0o755)
    for name, data in (files or {}).items():
        extra[name] = data
    c = images.busybox_cpio(INIT, mods if kern else (), kern, extra)
    for d in ("proc", "sys", "tmp", "run", "mnt"):
        c.dir(d)
    return c.bytes()


# The shell's prompt; busybox's line editing follows it with a cursor
# position query (ESC [6n) on a terminal that has not answered one yet.
PROMPT = r"[#$] (?:\x1b\[6n)?$"


if __name__ == "__main__":
    try:
        print(vmlinuz())
        print(vmlinux())
    except Unavailable as e:
        print(f"unavailable: {e}", file=sys.stderr)
        sys.exit(1)
