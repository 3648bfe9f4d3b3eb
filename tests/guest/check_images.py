#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the built test-guest images without running them.

    check_images.py BUILD_DIR COMPRESSOR...

For the ELF: one PT_LOAD at 0x100000, e_entry at +0x200, the PVH note, size
limit. For every bzImage: the setup header fields glue relies on, the
protected-mode code equal to the flat guest, and a payload that is the
guest ELF in the expected format with its uncompressed size appended.
"""

import bz2
import gzip
import lzma
import os
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkbzimage as mk  # noqa: E402

MAGIC = {
    "gzip": b"\x1f\x8b",
    "bzip2": b"BZh",
    "lzma": b"\x5d\x00\x00",
    "xz": b"\xfd7zXZ\x00",
    "lz4": b"\x02\x21\x4c\x18",
    "zstd": b"\x28\xb5\x2f\xfd",
}


def decompress(fmt, data):
    if fmt == "gzip":
        return gzip.decompress(data)
    if fmt == "bzip2":
        return bz2.decompress(data)
    if fmt in ("lzma", "xz"):
        return lzma.decompress(data)
    tool = shutil.which(fmt)
    if not tool:
        raise mk.ImageError("%s not installed, cannot verify" % fmt)
    return subprocess.run([tool, "-d", "-c", "-q"], input=data, check=True,
                          stdout=subprocess.PIPE).stdout


def expect(cond, what):
    if not cond:
        raise mk.ImageError(what)


def check_bzimage(path, fmt, flat, elf, memsz):
    with open(path, "rb") as f:
        img = f.read()
    h = img[:0x1000]
    get = lambda name: mk.hdr_get(h, name)  # noqa: E731
    expect(get("boot_flag") == 0xAA55, "boot_flag")
    expect(get("header") == b"HdrS", "HdrS magic")
    expect(get("version") == 0x020F, "protocol version")
    expect(get("loadflags") & mk.LOADED_HIGH, "LOADED_HIGH")
    expect(get("code32_start") == mk.LOAD_ADDR, "code32_start")
    expect(get("xloadflags") == 3, "xloadflags")
    expect(get("kernel_alignment") == 0x200000, "kernel_alignment")
    expect(get("relocatable_kernel") == 0, "relocatable_kernel")
    expect(get("pref_address") == mk.LOAD_ADDR, "pref_address")
    expect(get("initrd_addr_max") == 0x7FFFFFFF, "initrd_addr_max")
    expect(get("cmdline_size") == 2047, "cmdline_size")
    setup_len = (get("setup_sects") + 1) * 512
    pm = img[setup_len:]
    expect(get("syssize") * 16 >= len(pm), "syssize covers the protected-mode part")
    expect(pm[:len(flat)] == flat, "protected-mode code is the flat guest")
    init_size = get("init_size")
    expect(init_size >= memsz and init_size >= len(pm) and init_size % 4096 == 0, "init_size")
    off, length = get("payload_offset"), get("payload_length")
    expect(off >= len(flat) and off + length <= len(pm), "payload inside the image")
    payload = pm[off:off + length]
    expect(struct.unpack("<I", payload[-4:])[0] == len(elf), "uncompressed size trailer")
    body = payload[:-4]
    if fmt == "none":
        expect(not any(body.startswith(m) for m in MAGIC.values()), "nopayload has a magic")
        expect(not body.startswith(b"\x7fELF"), "nopayload is an ELF")
        return
    expect(body.startswith(MAGIC[fmt]), "%s magic" % fmt)
    expect(decompress(fmt, body) == elf, "payload decompresses to the guest ELF")


def main(argv):
    d, fmts = argv[0], argv[1:]
    with open(os.path.join(d, "glue-test-guest.elf"), "rb") as f:
        elf = f.read()
    with open(os.path.join(d, "glue-test-guest.bin"), "rb") as f:
        flat = f.read()
    failed = 0
    try:
        memsz = mk.check_guest_elf(elf)
        print("ok glue-test-guest.elf (%d bytes loaded)" % memsz)
    except mk.ImageError as e:
        print("FAIL glue-test-guest.elf: %s" % e)
        return 1
    images = [("glue-test-guest.bzImage", "gzip"),
              ("glue-test-guest-nopayload.bzImage", "none")]
    images += [("glue-test-guest-%s.bzImage" % f, f) for f in fmts]
    for name, fmt in images:
        try:
            check_bzimage(os.path.join(d, name), fmt, flat, elf, memsz)
            print("ok %s" % name)
        except (mk.ImageError, OSError, subprocess.CalledProcessError, ValueError) as e:
            print("FAIL %s: %s" % (name, e))
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
