# SPDX-License-Identifier: MIT
"""Debian's stock cloud kernel for the integration tests: download it with
apt-get into a cache, extract vmlinuz, and unpack the vmlinux ELF inside it.
Also a small initramfs builder (newc cpio) around busybox-static.

Run directly to fill the cache: python3 stockkernel.py"""

import bz2
import gzip
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

META_PACKAGE = "linux-image-cloud-amd64"


class Unavailable(Exception):
    """The kernel cannot be had here (no network, no apt): tests skip."""


def cache_dir():
    base = os.environ.get("GLUE_CACHE")
    d = Path(base) / "kernels" if base else Path.home() / ".cache" / "glue" / "kernels"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _run(cmd, **kw):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 600),
                              stdin=subprocess.DEVNULL, **kw)
    except FileNotFoundError as e:
        raise Unavailable(f"{cmd[0]} is not installed") from e
    except subprocess.TimeoutExpired as e:
        raise Unavailable(f"'{' '.join(cmd)}' took too long") from e


def resolve_package():
    """linux-image-cloud-amd64 -> the versioned package it depends on."""
    r = _run(["apt-cache", "depends", META_PACKAGE])
    m = re.search(r"Depends:\s*(linux-image-\S+-cloud-amd64)", r.stdout)
    if r.returncode != 0 or not m:
        r2 = _run(["apt-cache", "show", META_PACKAGE])
        m = re.search(r"^Depends:.*?(linux-image-[\w.+-]+-cloud-amd64)", r2.stdout, re.M)
        if not m:
            raise Unavailable(f"apt-cache cannot resolve {META_PACKAGE}: "
                              f"{(r.stderr or r2.stderr).strip() or 'no Depends line'}")
    return m.group(1)


def vmlinuz():
    """Path of the stock vmlinuz, downloading and extracting it if needed.
    $GLUE_STOCK_KERNEL names one to use instead."""
    forced = os.environ.get("GLUE_STOCK_KERNEL")
    if forced:
        if not Path(forced).is_file():
            raise Unavailable(f"GLUE_STOCK_KERNEL={forced} does not exist")
        return Path(forced)
    cache = cache_dir()
    try:
        pkg = resolve_package()
    except Unavailable:
        # Offline but cached earlier: use the newest cached one.
        found = sorted(cache.glob("*/boot/vmlinuz-*"))
        if found:
            return found[-1]
        raise
    ver = pkg[len("linux-image-"):]
    out = cache / pkg / "boot" / f"vmlinuz-{ver}"
    if out.is_file():
        return out
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        r = _run(["apt-get", "download", pkg], cwd=tmp)
        if r.returncode != 0 and os.geteuid() == 0:
            # Stale package lists name a version the mirror no longer has:
            # refresh them once and resolve again.
            _run(["apt-get", "update", "-q"])
            pkg = resolve_package()
            ver = pkg[len("linux-image-"):]
            out = cache / pkg / "boot" / f"vmlinuz-{ver}"
            r = _run(["apt-get", "download", pkg], cwd=tmp)
        debs = list(Path(tmp).glob("*.deb"))
        if r.returncode != 0 or not debs:
            raise Unavailable(f"apt-get download {pkg} failed: {r.stderr.strip()[-300:]}")
        x = Path(tmp) / "x"
        r = _run(["dpkg-deb", "-x", str(debs[0]), str(x)])
        src = x / "boot" / f"vmlinuz-{ver}"
        if r.returncode != 0 or not src.is_file():
            raise Unavailable(f"dpkg-deb -x {debs[0].name} failed: {r.stderr.strip()}")
        (cache / pkg / "boot").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out.with_suffix(".tmp"))
        os.replace(out.with_suffix(".tmp"), out)
    return out


def bzimage_payload(data):
    """(format, compressed bytes without Linux's trailing size word) of a bzImage."""
    if data[0x202:0x206] != b"HdrS":
        raise ValueError("not a bzImage")
    setup_sects = data[0x1F1] or 4
    pm = (setup_sects + 1) * 512
    off, length = struct.unpack_from("<II", data, 0x248)
    payload = data[pm + off: pm + off + length]
    magics = [("gzip", b"\x1f\x8b"), ("bzip2", b"BZh"), ("xz", b"\xfd7zXZ\x00"),
              ("lzma", b"\x5d\x00\x00"), ("lz4", b"\x02\x21\x4c\x18"), ("zstd", b"\x28\xb5\x2f\xfd")]
    for name, magic in magics:
        if payload.startswith(magic):
            return name, payload[:-4]
    raise ValueError("unknown payload format")


def _decompress(fmt, comp):
    if fmt == "gzip":
        return gzip.decompress(comp)
    if fmt == "bzip2":
        return bz2.decompress(comp)
    if fmt == "xz":
        return lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(comp)
    if fmt == "lzma":
        return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(comp)
    tool = {"lz4": ["lz4", "-d", "-c"], "zstd": ["zstd", "-d", "-c"]}[fmt]
    if not shutil.which(tool[0]):
        raise Unavailable(f"the {tool[0]} tool is needed to unpack a {fmt} kernel")
    r = subprocess.run(tool, input=comp, capture_output=True, timeout=120)
    if not r.stdout.startswith(b"\x7fELF"):
        raise Unavailable(f"{tool[0]} could not unpack the kernel: {r.stderr.decode()[-200:]}")
    return r.stdout


def vmlinux():
    """The ELF vmlinux inside the stock vmlinuz (cached next to it)."""
    z = vmlinuz()
    out = z.with_name(z.name.replace("vmlinuz", "vmlinux", 1) + ".elf")
    if out.is_file() and out.stat().st_mtime >= z.stat().st_mtime:
        return out
    fmt, comp = bzimage_payload(z.read_bytes())
    elf = _decompress(fmt, comp)
    if not elf.startswith(b"\x7fELF"):
        raise Unavailable(f"the {fmt} payload is not an ELF")
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(elf)
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


def cpio_newc(entries):
    """A newc cpio archive. entries: (name, mode, data_or_None, rdev=(maj, min))."""
    out = bytearray()

    def add(name, mode, data=b"", rdev=(0, 0), ino=[0]):
        ino[0] += 1
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08X}" for v in (
            ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(nb), 0))
        out.extend(hdr.encode() + nb)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for e in entries:
        add(*e)
    add("TRAILER!!!", 0)
    return bytes(out)


INIT_SCRIPT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo GLUE-INIT-$((40+2))
exec setsid cttyhack sh
"""


def busybox_initramfs(busybox="/bin/busybox"):
    """An uncompressed initramfs: busybox-static, /init (a shell on the console)."""
    bb = Path(busybox)
    if not bb.is_file():
        raise Unavailable("busybox-static is not installed (/bin/busybox)")
    r = subprocess.run(["file", "-L", str(bb)], capture_output=True, text=True)
    if r.returncode == 0 and "statically linked" not in r.stdout:
        raise Unavailable(f"{bb} is not statically linked (install busybox-static)")
    S_IFDIR, S_IFREG, S_IFCHR = 0o040000, 0o100000, 0o020000
    return cpio_newc([
        ("bin", S_IFDIR | 0o755),
        ("dev", S_IFDIR | 0o755),
        ("dev/console", S_IFCHR | 0o600, b"", (5, 1)),
        ("dev/ttyS0", S_IFCHR | 0o600, b"", (4, 64)),
        ("bin/busybox", S_IFREG | 0o755, bb.read_bytes()),
        ("init", S_IFREG | 0o755, INIT_SCRIPT.encode()),
    ])


if __name__ == "__main__":
    try:
        print(vmlinuz())
        print(vmlinux())
    except Unavailable as e:
        print(f"unavailable: {e}", file=sys.stderr)
        sys.exit(1)
