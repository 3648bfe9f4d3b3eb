#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Assemble a Linux-layout x86 bzImage around the test guest.

    mkbzimage.py --compress FMT [--lz4 PATH] [--zstd PATH] SETUP FLAT ELF OUT

SETUP is the real-mode part (boot sector + setup sectors, from setup.S), FLAT
the guest as a flat binary loaded at 0x100000 (32-bit entry at +0, 64-bit
entry at +0x200), ELF the same guest as an ELF file. The protected-mode part
of the bzImage is FLAT followed by the payload: ELF compressed with FMT
(gzip, bzip2, lzma, xz, lz4, zstd) and, as Linux does for every format, the
uncompressed size as a little-endian u32. FMT "none" stores bytes that are no
known compressed format, to exercise a loader's fallback.
"""

import argparse
import bz2
import gzip
import lzma
import os
import struct
import subprocess
import sys
import tempfile

LOAD_ADDR = 0x100000
ENTRY64_OFFSET = 0x200
MAX_IMAGE = 256 * 1024
BOOT_PROTOCOL = 0x020F
CMDLINE_SIZE = 2047
VERSION_STRING = b"glue-test-guest\0"
VERSION_OFFSET = 0x270  # in the setup area, in boot_params padding
NOPAYLOAD_MARKER = b"GLUE-TEST-GUEST: this payload is not compressed data\n"

# Setup header fields: name -> (offset, struct format).
HDR = {
    "setup_sects": (0x1F1, "<B"),
    "root_flags": (0x1F2, "<H"),
    "syssize": (0x1F4, "<I"),
    "ram_size": (0x1F8, "<H"),
    "vid_mode": (0x1FA, "<H"),
    "root_dev": (0x1FC, "<H"),
    "boot_flag": (0x1FE, "<H"),
    "jump": (0x200, "<H"),
    "header": (0x202, "<4s"),
    "version": (0x206, "<H"),
    "realmode_swtch": (0x208, "<I"),
    "start_sys_seg": (0x20C, "<H"),
    "kernel_version": (0x20E, "<H"),
    "type_of_loader": (0x210, "<B"),
    "loadflags": (0x211, "<B"),
    "setup_move_size": (0x212, "<H"),
    "code32_start": (0x214, "<I"),
    "ramdisk_image": (0x218, "<I"),
    "ramdisk_size": (0x21C, "<I"),
    "bootsect_kludge": (0x220, "<I"),
    "heap_end_ptr": (0x224, "<H"),
    "ext_loader_ver": (0x226, "<B"),
    "ext_loader_type": (0x227, "<B"),
    "cmd_line_ptr": (0x228, "<I"),
    "initrd_addr_max": (0x22C, "<I"),
    "kernel_alignment": (0x230, "<I"),
    "relocatable_kernel": (0x234, "<B"),
    "min_alignment": (0x235, "<B"),
    "xloadflags": (0x236, "<H"),
    "cmdline_size": (0x238, "<I"),
    "hardware_subarch": (0x23C, "<I"),
    "hardware_subarch_data": (0x240, "<Q"),
    "payload_offset": (0x248, "<I"),
    "payload_length": (0x24C, "<I"),
    "setup_data": (0x250, "<Q"),
    "pref_address": (0x258, "<Q"),
    "init_size": (0x260, "<I"),
    "handover_offset": (0x264, "<I"),
    "kernel_info_offset": (0x268, "<I"),
}
HDR_START, HDR_END = 0x1F1, 0x26C

LOADED_HIGH = 0x01
XLF_KERNEL_64 = 0x1
XLF_CAN_BE_LOADED_ABOVE_4G = 0x2

COMPRESSORS = ("gzip", "bzip2", "lzma", "xz", "lz4", "zstd")


class ImageError(Exception):
    pass


def hdr_get(buf, name):
    off, fmt = HDR[name]
    return struct.unpack_from(fmt, buf, off)[0]


def hdr_set(buf, name, value):
    off, fmt = HDR[name]
    struct.pack_into(fmt, buf, off, value)


def parse_elf(elf):
    """Check the guest ELF; return (entry, [(paddr, filesz, memsz)], notes)."""
    if len(elf) < 64 or elf[:4] != b"\x7fELF":
        raise ImageError("not an ELF file")
    if elf[4] != 2 or elf[5] != 1:
        raise ImageError("not a little-endian ELF64")
    (e_type, e_machine, _, e_entry, e_phoff, _, _, _, e_phentsize,
     e_phnum) = struct.unpack_from("<HHIQQQIHHH", elf, 16)
    if e_type != 2 or e_machine != 62:
        raise ImageError("not an x86-64 executable")
    if e_phentsize != 56 or e_phoff + e_phnum * 56 > len(elf):
        raise ImageError("bad program headers")
    loads, notes = [], []
    for i in range(e_phnum):
        (p_type, _, p_offset, _, p_paddr, p_filesz,
         p_memsz, _) = struct.unpack_from("<IIQQQQQQ", elf, e_phoff + i * 56)
        if p_offset + p_filesz > len(elf):
            raise ImageError("segment %d beyond the file" % i)
        if p_type == 1:
            loads.append((p_paddr, p_filesz, p_memsz))
        elif p_type == 4:
            notes += parse_notes(elf[p_offset:p_offset + p_filesz])
    return e_entry, loads, notes


def parse_notes(data):
    notes, off = [], 0
    while off + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from("<III", data, off)
        off += 12
        name = data[off:off + namesz].rstrip(b"\0")
        off += (namesz + 3) & ~3
        desc = data[off:off + descsz]
        off += (descsz + 3) & ~3
        notes.append((name, ntype, desc))
    return notes


def check_guest_elf(elf):
    """Validate the layout the loaders rely on; return the image's memsz."""
    entry, loads, notes = parse_elf(elf)
    if len(loads) != 1 or loads[0][0] != LOAD_ADDR:
        raise ImageError("want exactly one PT_LOAD at 0x%x, have %r" % (LOAD_ADDR, loads))
    if entry != LOAD_ADDR + ENTRY64_OFFSET:
        raise ImageError("e_entry 0x%x is not load address + 0x200" % entry)
    memsz = loads[0][2]
    if loads[0][1] > MAX_IMAGE or memsz > MAX_IMAGE:
        raise ImageError("image too large: %d bytes" % memsz)
    pvh = [d for (n, t, d) in notes if n == b"Xen" and t == 18]
    if len(pvh) != 1 or len(pvh[0]) not in (4, 8):
        raise ImageError("no XEN_ELFNOTE_PHYS32_ENTRY note")
    pvh_entry = int.from_bytes(pvh[0], "little")
    if not LOAD_ADDR <= pvh_entry < LOAD_ADDR + loads[0][1]:
        raise ImageError("PVH entry 0x%x outside the image" % pvh_entry)
    return memsz


def run_tool(argv, data):
    """Run a compressor CLI on data; argv has "{in}" and "{out}" placeholders."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in"), os.path.join(tmp, "out")
        with open(src, "wb") as f:
            f.write(data)
        subst = {"{in}": src, "{out}": dst}
        subprocess.run([subst.get(a, a) for a in argv], check=True, stdin=subprocess.DEVNULL)
        with open(dst, "rb") as f:
            return f.read()


def compress(fmt, data, tools):
    if fmt == "gzip":
        return gzip.compress(data, compresslevel=9, mtime=0)  # like gzip -9n
    if fmt == "bzip2":
        return bz2.compress(data, 9)
    if fmt == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_ALONE, preset=9)
    if fmt == "xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=9)
    if fmt == "lz4":
        # -l: the legacy frame, the only one Linux's decompressor reads.
        return run_tool([tools["lz4"], "-l", "-9", "-q", "-f", "{in}", "{out}"], data)
    if fmt == "zstd":
        return run_tool([tools["zstd"], "-19", "-q", "-f", "{in}", "-o", "{out}"], data)
    if fmt == "none":
        return NOPAYLOAD_MARKER
    raise ImageError("unknown compressor %r" % fmt)


def build(setup, flat, elf, fmt, tools):
    memsz = check_guest_elf(elf)
    if len(setup) % 512 or not 2 * 512 <= len(setup) <= 64 * 512:
        raise ImageError("setup is %d bytes, not a whole number of sectors" % len(setup))
    if len(flat) > MAX_IMAGE or len(flat) <= ENTRY64_OFFSET:
        raise ImageError("flat image is %d bytes" % len(flat))
    setup = bytearray(setup)
    hdr_area = setup[HDR_START:HDR_END]
    hdr_area[0x200 - HDR_START:0x202 - HDR_START] = b"\0\0"  # setup.S's jump
    if any(hdr_area):
        raise ImageError("setup.S must leave the setup header zero")
    if any(setup[VERSION_OFFSET:VERSION_OFFSET + len(VERSION_STRING)]):
        raise ImageError("setup.S uses the version string area")

    payload = compress(fmt, elf, tools) + struct.pack("<I", len(elf))
    code = flat + bytes(-len(flat) % 16)  # payload 16-byte aligned
    pm = code + payload
    pm += bytes(-len(pm) % 16)

    h = setup
    hdr_set(h, "setup_sects", len(setup) // 512 - 1)
    hdr_set(h, "syssize", len(pm) // 16)
    hdr_set(h, "vid_mode", 0xFFFF)
    hdr_set(h, "boot_flag", 0xAA55)
    hdr_set(h, "header", b"HdrS")
    hdr_set(h, "version", BOOT_PROTOCOL)
    hdr_set(h, "start_sys_seg", 0x1000)
    h[VERSION_OFFSET:VERSION_OFFSET + len(VERSION_STRING)] = VERSION_STRING
    hdr_set(h, "kernel_version", VERSION_OFFSET - 0x200)
    hdr_set(h, "loadflags", LOADED_HIGH)
    hdr_set(h, "setup_move_size", 0x8000)
    hdr_set(h, "code32_start", LOAD_ADDR)
    hdr_set(h, "initrd_addr_max", 0x7FFFFFFF)
    hdr_set(h, "kernel_alignment", 0x200000)
    hdr_set(h, "relocatable_kernel", 0)
    hdr_set(h, "min_alignment", 21)
    hdr_set(h, "xloadflags", XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G)
    hdr_set(h, "cmdline_size", CMDLINE_SIZE)
    hdr_set(h, "payload_offset", len(code))
    hdr_set(h, "payload_length", len(payload))
    hdr_set(h, "pref_address", LOAD_ADDR)
    # Enough for the image with its BSS, and for the file's whole protected-mode part.
    init_size = max(memsz, len(pm))
    hdr_set(h, "init_size", (init_size + 0xFFF) & ~0xFFF)
    if hdr_get(h, "jump") & 0xFF != 0xEB:
        raise ImageError("setup.S has no short jump at 0x200")
    return bytes(h) + pm


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compress", required=True, choices=COMPRESSORS + ("none",))
    ap.add_argument("--lz4", default="lz4")
    ap.add_argument("--zstd", default="zstd")
    ap.add_argument("setup")
    ap.add_argument("flat")
    ap.add_argument("elf")
    ap.add_argument("output")
    args = ap.parse_args(argv)
    blobs = []
    for path in (args.setup, args.flat, args.elf):
        with open(path, "rb") as f:
            blobs.append(f.read())
    try:
        image = build(*blobs, args.compress, {"lz4": args.lz4, "zstd": args.zstd})
    except (ImageError, OSError, subprocess.CalledProcessError) as e:
        print("mkbzimage: %s: %s" % (args.output, e), file=sys.stderr)
        return 1
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(image)
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
