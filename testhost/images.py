# SPDX-License-Identifier: MIT
"""Debian kernels and busybox initramfs images, for the test host (L1) and
for the Linux guests glue boots (L2).

Everything comes from Debian's packages: a kernel package fetched with
`apt-get download` (the generic `linux-image-amd64` flavour by default, which
has kvm_amd, 9p and every virtio driver; `cloud` is the smaller one), the
modules it needs resolved with kmod's `modprobe --show-depends`, and
busybox-static for userspace. Results are cached under $GLUE_CACHE (default
~/.cache/glue) per package version, so a new kernel package means a new
cache entry and the old one is used only when apt cannot be reached.

    python3 testhost/images.py kernel [--flavour cloud]   # print vmlinuz path
    python3 testhost/images.py modules virtio_blk ext4     # print .ko paths
"""

import argparse
import bz2
import fcntl
import functools
import hashlib
import gzip
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

FLAVOURS = {"generic": "linux-image-amd64", "cloud": "linux-image-cloud-amd64"}

# Modules kept from each kernel package: what the test host loads, and what
# Linux guests may want in their initramfs. Dependencies are added by kmod.
KEEP_MODULES = [
    # test host: KVM, the 9p host share, overlayfs, its virtio console and rng
    "kvm_amd", "kvm_intel", "9p", "9pnet_virtio", "overlay", "virtio_pci", "virtio_console",
    "virtio_rng", "vhost_net", "vhost_vsock", "tun", "veth", "bridge",
    # guests: disks, filesystems, network, the other virtio devices
    "virtio_mmio", "virtio_blk", "virtio_net", "virtio_balloon", "virtio_input", "ext4",
    "vmw_vsock_virtio_transport", "virtiofs", "fuse", "loop", "button", "evdev",
]


class Unavailable(Exception):
    """What is needed cannot be had here (no apt, no network, no cache)."""


def cache_root():
    base = os.environ.get("GLUE_CACHE")
    d = Path(base) if base else Path.home() / ".cache" / "glue"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _run(cmd, timeout=600, **kw):
    try:
        return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    except FileNotFoundError as e:
        raise Unavailable(f"{cmd[0]} is not installed") from e
    except subprocess.TimeoutExpired as e:
        raise Unavailable(f"'{' '.join(map(str, cmd))}' took more than {timeout} s") from e


def _tool(name):
    """kmod's tools live in /sbin, which an ordinary user's PATH may lack."""
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/sbin"]:
        p = Path(d) / name
        if p.is_file() and os.access(p, os.X_OK):
            return p
    raise Unavailable(f"{name} is not installed (Debian package kmod)")


class Lock:
    """An flock on a cache directory, so two runs never build one entry."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.f = open(self.path, "a")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.f.close()


@functools.lru_cache(maxsize=None)
def resolve(flavour="generic"):
    """(package, version) that the flavour's meta package points at now:
    its Depends line pins the versioned package exactly."""
    meta = FLAVOURS[flavour]
    r = _run(["apt-cache", "show", "--no-all-versions", meta])
    m = re.search(r"^Depends:.*?\b(linux-image-[\w.+-]+)\s*\(=\s*([^)\s]+)\)", r.stdout, re.M)
    if r.returncode != 0 or not m:
        raise Unavailable(f"apt-cache cannot resolve {meta}: {r.stderr.strip() or 'no Depends line'}")
    return m.group(1), m.group(2)


class Kernel:
    """One cached kernel package: .vmlinuz, .release (uname -r), .modules_dir
    (the root of a lib/modules/<release> tree with just KEEP_MODULES and their
    dependencies, depmod'ed)."""

    def __init__(self, root):
        self.root = Path(root)
        info = json.loads((self.root / "kernel.json").read_text())
        self.package = info["package"]
        self.version = info["version"]
        self.release = info["release"]
        self.vmlinuz = self.root / "vmlinuz"
        self.modules_dir = self.root

    @property
    def vmlinux(self):
        """The ELF inside vmlinuz (unpacked once, cached beside it): QEMU and
        glue boot it through PVH, skipping the kernel's own decompressor."""
        out = self.root / "vmlinux"
        if not out.is_file():
            with Lock(self.root / ".lock"):
                if not out.is_file():
                    elf = unpack_bzimage(self.vmlinuz.read_bytes())
                    tmp = out.with_suffix(".tmp")
                    tmp.write_bytes(elf)
                    os.replace(tmp, out)
        return out

    @property
    def key(self):
        return f"{self.package}_{self.version}"

    def module_paths(self, *names):
        """The .ko files to insmod, in order, for the named modules (with
        their dependencies, each once). Unknown names raise Unavailable;
        built-in modules give nothing."""
        out = []
        for name in names:
            r = _run([_tool("modprobe"), "-d", self.modules_dir, "-S", self.release,
                      "--show-depends", name])
            if r.returncode != 0:
                raise Unavailable(f"{self.package} has no module {name}: {r.stderr.strip()}")
            for m in re.finditer(r"^insmod (\S+)", r.stdout, re.M):
                p = Path(m.group(1))
                if p not in out:
                    out.append(p)
        return out


def bzimage_payload(data):
    """(format, compressed bytes without Linux's trailing size word) of a bzImage."""
    if data[0x202:0x206] != b"HdrS":
        raise Unavailable("not a bzImage")
    setup_sects = data[0x1F1] or 4
    pm = (setup_sects + 1) * 512
    off, length = struct.unpack_from("<II", data, 0x248)
    payload = data[pm + off: pm + off + length]
    magics = [("gzip", b"\x1f\x8b"), ("bzip2", b"BZh"), ("xz", b"\xfd7zXZ\x00"),
              ("lzma", b"\x5d\x00\x00"), ("lz4", b"\x02\x21\x4c\x18"), ("zstd", b"\x28\xb5\x2f\xfd")]
    for name, magic in magics:
        if payload.startswith(magic):
            return name, payload[:-4]
    raise Unavailable("the bzImage's payload is in an unknown format")


def unpack_bzimage(data):
    """The vmlinux ELF inside a bzImage."""
    fmt, comp = bzimage_payload(data)
    if fmt == "gzip":
        elf = gzip.decompress(comp)
    elif fmt == "bzip2":
        elf = bz2.decompress(comp)
    elif fmt in ("xz", "lzma"):
        elf = lzma.LZMADecompressor(lzma.FORMAT_XZ if fmt == "xz" else lzma.FORMAT_ALONE).decompress(comp)
    else:
        tool = {"lz4": ["lz4", "-d", "-c"], "zstd": ["zstd", "-d", "-c"]}[fmt]
        if not shutil.which(tool[0]):
            raise Unavailable(f"the {tool[0]} tool is needed to unpack a {fmt} kernel")
        r = subprocess.run(tool, input=comp, capture_output=True, timeout=120)
        elf = r.stdout
    if not elf.startswith(b"\x7fELF"):
        raise Unavailable(f"the {fmt} payload of the bzImage is not an ELF")
    return elf


def _cached(flavour):
    found = []
    for p in cache_root().glob("kernels/*/kernel.json"):
        try:
            k = Kernel(p.parent)
        except (OSError, ValueError, KeyError):
            continue
        if (flavour == "cloud") == ("-cloud-" in k.package):
            found.append(k)
    return sorted(found, key=lambda k: k.root.stat().st_mtime)


def kernel(flavour="generic", log=None):
    """The current Debian kernel of a flavour, fetched and unpacked if needed.
    Offline, the newest cached one. $GLUE_STOCK_KERNEL is not honoured here
    (the test host needs the modules that go with its kernel)."""
    try:
        pkg, ver = resolve(flavour)
    except Unavailable:
        cached = _cached(flavour)
        if cached:
            return cached[-1]
        raise
    # The module list is part of the key: a longer list means a new entry.
    keep = hashlib.sha256(" ".join(KEEP_MODULES).encode()).hexdigest()[:8]
    root = cache_root() / "kernels" / f"{pkg}_{ver}_{keep}"
    if (root / "kernel.json").is_file():
        return Kernel(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    with Lock(root.parent / ".lock"):
        if (root / "kernel.json").is_file():
            return Kernel(root)
        if log:
            log(f"fetching {pkg} {ver} from Debian (once; cached in {root.parent})")
        _fetch(pkg, ver, root)
        for old in _cached(flavour):  # superseded packages and module lists
            if old.root != root:
                shutil.rmtree(old.root, ignore_errors=True)
    return Kernel(root)


def _fetch(pkg, ver, root):
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=".fetch-") as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)  # apt's _apt user writes the download here when it can
        r = _run(["apt-get", "download", f"{pkg}={ver}"], cwd=tmp)
        if r.returncode != 0 and os.geteuid() == 0:
            # Stale package lists name a version the mirror no longer has.
            _run(["apt-get", "update", "-q"])
            r = _run(["apt-get", "download", f"{pkg}={ver}"], cwd=tmp)
        debs = list(tmp.glob("*.deb"))
        if r.returncode != 0 or not debs:
            raise Unavailable(f"apt-get download {pkg}={ver} failed: {r.stderr.strip()[-300:]}")
        x = tmp / "x"
        r = _run(["dpkg-deb", "-x", debs[0], x])
        vmlinuz = sorted((x / "boot").glob("vmlinuz-*"))
        mods = sorted((x / "lib" / "modules").glob("*"))
        if r.returncode != 0 or not vmlinuz or not mods:
            raise Unavailable(f"dpkg-deb -x {debs[0].name} failed: {r.stderr.strip() or 'no kernel inside'}")
        release = mods[0].name
        r = _run([_tool("depmod"), "-b", x, release])
        if r.returncode != 0:
            raise Unavailable(f"depmod failed: {r.stderr.strip()}")
        out = tmp / "out"
        (out / "lib" / "modules" / release).mkdir(parents=True)
        shutil.copyfile(vmlinuz[0], out / "vmlinuz")
        src = x / "lib" / "modules" / release
        for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
            if (src / f).is_file():
                shutil.copyfile(src / f, out / "lib" / "modules" / release / f)
        for name in KEEP_MODULES:
            r = _run([_tool("modprobe"), "-d", x, "-S", release, "--show-depends", name])
            for m in re.finditer(r"^insmod (\S+)", r.stdout, re.M):
                rel = Path(m.group(1)).relative_to(x)
                dst = out / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(m.group(1), dst)
        r = _run([_tool("depmod"), "-b", out, release])
        if r.returncode != 0:
            raise Unavailable(f"depmod failed: {r.stderr.strip()}")
        (out / "kernel.json").write_text(json.dumps(
            {"package": pkg, "version": ver, "release": release}, indent=1) + "\n")
        if root.exists():
            shutil.rmtree(root)
        os.rename(out, root)


# ---------------------------------------------------------------------------
# initramfs (newc cpio, uncompressed: nothing to decompress under TCG)

S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR = 0o040000, 0o100000, 0o120000, 0o020000


class Cpio:
    """A newc cpio archive built in memory: dir(), file(), symlink(), node()."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 0
        self.names = set()

    def _add(self, name, mode, data=b"", rdev=(0, 0)):
        name = name.strip("/")
        if name in self.names:
            return
        self.names.add(name)
        parent = os.path.dirname(name)
        if parent and parent not in self.names:
            self.dir(parent)
        self._entry(name, mode, data, rdev)

    def _entry(self, name, mode, data, rdev):
        self.ino += 1
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08X}" for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(nb), 0))
        self.out += hdr.encode() + nb
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def dir(self, name, mode=0o755):
        self._add(name, S_IFDIR | mode)

    def file(self, name, data, mode=0o644):
        if isinstance(data, str):
            data = data.encode()
        self._add(name, S_IFREG | mode, bytes(data))

    def copy(self, name, path, mode=None):
        path = Path(path)
        self.file(name, path.read_bytes(), mode if mode is not None else path.stat().st_mode & 0o777)

    def symlink(self, name, target):
        self._add(name, S_IFLNK | 0o777, target.encode())

    def node(self, name, major, minor, mode=0o600):
        self._add(name, S_IFCHR | mode, b"", (major, minor))

    def bytes(self):
        out = Cpio()
        out.out = bytearray(self.out)
        out.ino = self.ino
        out._entry("TRAILER!!!", 0, b"", (0, 0))
        return bytes(out.out)


def _elf_interp(data):
    """Whether an ELF64 has a PT_INTERP (is dynamically linked)."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return any(struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3 for i in range(phnum))


def busybox(path="/bin/busybox"):
    """Debian's busybox-static binary (a dynamic one would need libc inside)."""
    bb = Path(path)
    if not bb.is_file():
        raise Unavailable(f"busybox-static is not installed ({bb})")
    if _elf_interp(bb.read_bytes()):
        raise Unavailable(f"{bb} is not statically linked (install busybox-static)")
    return bb


def busybox_cpio(init, modules=(), kernel_obj=None, extra=None):
    """A Cpio with busybox (applets linked at boot by `busybox --install`),
    /dev/console and /dev/ttyS0, the given /init script, and the given modules
    (from kernel_obj) under /lib/modules/<release>/ with a /lib/modules/load
    list in insmod order, and extra files {path: data or (data, mode)}."""
    c = Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "etc"):
        c.dir(d)
    c.node("dev/console", 5, 1)
    c.node("dev/ttyS0", 4, 64)
    c.copy("bin/busybox", busybox(), 0o755)
    c.symlink("bin/sh", "busybox")
    c.file("init", init, 0o755)
    if modules:
        paths = kernel_obj.module_paths(*modules)
        order = []
        for p in paths:
            name = f"lib/modules/{p.name}"
            c.copy(name, p, 0o644)
            order.append("/" + name)
        c.file("lib/modules/load", "\n".join(order) + "\n")
    for name, data in (extra or {}).items():
        data, mode = data if isinstance(data, tuple) else (data, 0o644)
        c.file(name, data, mode)
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("kernel", help="print the cached vmlinuz of a flavour (fetching it)")
    k.add_argument("--flavour", choices=FLAVOURS, default="generic")
    m = sub.add_parser("modules", help="print the .ko files for modules, in insmod order")
    m.add_argument("--flavour", choices=FLAVOURS, default="generic")
    m.add_argument("names", nargs="+")
    args = ap.parse_args()
    try:
        kern = kernel(args.flavour, log=lambda s: print(f"glue: {s}", file=sys.stderr))
        if args.cmd == "kernel":
            print(kern.vmlinuz)
        else:
            for p in kern.module_paths(*args.names):
                print(p)
    except Unavailable as e:
        print(f"glue: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
