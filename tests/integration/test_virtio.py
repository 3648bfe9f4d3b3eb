# SPDX-License-Identifier: MIT
"""Virtio devices driven by the test guest's own driver (tests/guest/virtio.c)
over each transport: real work first (a disk's sectors written, flushed and
read back; an ARP exchange with slirp's gateway; entropy), then malformed
chains and register writes on purpose: descriptor loops, addresses outside
RAM and across its end, zero and 4 GiB lengths, readable after writable,
nested and odd-sized indirect tables, heads and indices past the ring, bad
request headers, frames too short and too long, headers that lie, a queue
set up outside RAM. Each must be answered or refused with DEVICE_NEEDS_RESET
(the guest counts the ones that are neither as lost), the device must come
back after a reset, and glue must stay up and quiet (also under ASan/UBSan).
The host then checks the disk image: the guest's sectors are there, and
nothing a malformed write carried reached it."""

import pytest

import glueutil

pytestmark = pytest.mark.devices

SECTOR = 512
PATTERNS = (64, 128)  # where the guest writes 16 sectors each (check_virtio.c)
PATTERN_SECTORS = 16
HOSTILE = 256  # where its malformed writes aim (sectors 256..)
CRASH_TEXT = ("AddressSanitizer", "runtime error", "Segmentation")


def transports():
    t = []
    if glueutil.have("pci"):
        t.append("pci")
    if glueutil.have("virtio_mmio"):
        t.append("mmio")
    return t


def pattern(sector, i):
    return ((sector * 131) ^ (i * 7) ^ (i >> 8) ^ 0x5A) & 0xFF


def expected_sector(sector):
    return bytes(pattern(sector, i) for i in range(SECTOR))


def check_clean(v):
    for text in CRASH_TEXT:
        assert text not in v.stderr, v.report()


def passed(v, tests, name):
    assert name in tests, f"no TEST {name} line\n{v.report()}"
    state, kv, detail = tests[name]
    assert state == "PASS", f"{name}: {detail}\n{v.report()}"
    return kv


@pytest.mark.parametrize("transport", transports())
def test_blk_by_the_guests_driver(run_guest, tmp_path, transport):
    if not glueutil.have("virtio_blk"):
        pytest.skip("built without virtio-blk")
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(4 << 20))
    v, tests, rc = run_guest("vblk", "-d", f"{disk},serial=GLUE-VBLK-1", "--transport", transport,
                             extra=f"glue.virtio={transport}", mem="128M", timeout=60)
    kv = passed(v, tests, "vblk")
    assert kv["transport"] == transport
    assert int(kv["capacity"]) == (4 << 20) // SECTOR
    assert kv["serial"] == "GLUE-VBLK-1"
    # Every malformed chain was answered or refused; none went missing.
    assert int(kv["hostile"]) >= 18, v.report()
    assert kv["lost"] == "0", v.report()
    assert int(kv["answered"]) + int(kv["resets"]) == int(kv["hostile"]), v.report()
    # Requests complete with interrupts: MSI-X (through KVM irqfds) on PCI, the
    # level-triggered line on virtio-mmio; refusals raise config interrupts.
    assert int(kv["irqs"]) >= 10, v.report()
    if int(kv["resets"]):
        assert int(kv["config_irqs"]) >= 1, v.report()
    check_clean(v)

    image = disk.read_bytes()
    for base in PATTERNS:
        for s in range(base, base + PATTERN_SECTORS):
            assert image[s * SECTOR:(s + 1) * SECTOR] == expected_sector(s), \
                f"sector {s} is not what the guest wrote\n{v.report()}"
    hostile = image[HOSTILE * SECTOR:(HOSTILE + 32) * SECTOR]
    assert hostile == bytes(len(hostile)), \
        f"a malformed write reached the image at sector " \
        f"{HOSTILE + next(i for i, b in enumerate(hostile) if b) // SECTOR}"
    # Nothing but the guest's own sectors was written.
    rest = bytearray(image)
    for base in PATTERNS:
        rest[base * SECTOR:(base + PATTERN_SECTORS) * SECTOR] = bytes(PATTERN_SECTORS * SECTOR)
    assert rest == bytes(len(rest)), v.report()


def test_blk_read_only_by_the_guests_driver(run_guest, tmp_path):
    if not glueutil.have("virtio_blk") or not transports():
        pytest.skip("built without virtio-blk or a transport")
    disk = tmp_path / "ro.img"
    disk.write_bytes(bytes(1 << 20))
    v, tests, rc = run_guest("vblk", "-d", f"{disk},ro", "--transport", transports()[0],
                             mem="128M", timeout=60)
    kv = passed(v, tests, "vblk")
    assert kv["ro"] == "1", v.report()
    assert disk.read_bytes() == bytes(1 << 20), "a read-only disk was written"
    check_clean(v)


@pytest.mark.parametrize("transport", transports())
def test_rng_by_the_guests_driver(run_guest, transport):
    if not glueutil.have("virtio_rng"):
        pytest.skip("built without virtio-rng")
    v, tests, rc = run_guest("vrng", "--transport", transport, extra=f"glue.virtio={transport}",
                             mem="128M", timeout=60)
    kv = passed(v, tests, "vrng")
    assert int(kv["bytes"]) == 64, v.report()
    assert int(kv["answered"]) + int(kv["resets"]) == int(kv["hostile"]), v.report()
    check_clean(v)


@pytest.mark.parametrize("transport", transports())
def test_net_by_the_guests_driver(run_guest, transport):
    """With user networking: slirp's gateway answers the guest's ARP request
    before and after the malformed frames, chains and control commands."""
    if not glueutil.have("virtio_net") or not glueutil.have("slirp"):
        pytest.skip("built without virtio-net or slirp")
    v, tests, rc = run_guest("vnet", "--net", "user,mac=52:54:00:12:34:56", "--no-rng",
                             "--transport", transport, extra=f"glue.virtio={transport}",
                             mem="128M", timeout=60)
    kv = passed(v, tests, "vnet")
    assert kv["mac"] == "52:54:00:12:34:56", v.report()
    assert int(kv["hostile"]) >= 15, v.report()
    assert kv["lost"] == "0", v.report()
    assert int(kv["irqs"]) >= 5, v.report()
    check_clean(v)
