"""fsck: an offline, read-only consistency check of a SISFS device.

It checks the superblock, reads the journal (a committed transaction that mount would replay
is applied in memory first, and reported as information), walks the tree from the root and
checks every directory ("." and "..", names, no directory reachable twice), every inode's
block pointers (in the data area, used once, counted right, none past the end of the file),
link counts, and both allocation bitmaps against what is actually in use.
"""

from __future__ import annotations

import stat as st
from array import array
from collections import Counter, deque
from dataclasses import dataclass, field

from sis.kernel.drivers.block import BlockDevice
from sis.kernel.errno import KernelError
from sis.kernel.fs import bitmap, journal
from sis.kernel.fs.layout import (
    BLOCK_SIZE,
    FT_DIR,
    FT_REG,
    INODE_SIZE,
    MAX_FILE_SIZE,
    N_DIRECT,
    PTRS,
    PTRS_PER_BLOCK,
    ROOT_INO,
    Inode,
    Superblock,
    ceil_div,
    parse_dir_block,
    valid_name_bytes,
)

MAX_FINDINGS = 200
_META = 0xFFFFFFFF  # owner of superblock, journal, bitmaps and inode table


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" or "info"
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


@dataclass
class FsckReport:
    findings: list[Finding] = field(default_factory=list)
    journal: str = "unknown"
    files: int = 0
    directories: int = 0
    used_blocks: int = 0
    total_blocks: int = 0
    used_inodes: int = 0
    total_inodes: int = 0
    omitted: int = 0  # findings beyond MAX_FINDINGS, counted but not listed

    @property
    def clean(self) -> bool:
        return not self.errors and not self.omitted

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def error(self, message: str) -> None:
        self._add(Finding("error", message))

    def info(self, message: str) -> None:
        self._add(Finding("info", message))

    def _add(self, finding: Finding) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(finding)
        else:
            self.omitted += 1

    def summary(self) -> str:
        state = "clean" if self.clean else f"{len(self.errors) + self.omitted} errors"
        return (
            f"{state}: {self.files} files, {self.directories} directories, "
            f"{self.used_inodes}/{self.total_inodes} inodes, "
            f"{self.used_blocks}/{self.total_blocks} blocks in use; journal {self.journal}"
        )


def fsck(dev: BlockDevice) -> FsckReport:
    """Check the file system on `dev` without writing to it."""
    report = FsckReport()
    try:
        block0 = dev.read_block(0)
    except KernelError as e:
        report.error(f"cannot read the superblock: {e.detail or e}")
        return report
    try:
        sb = Superblock.parse(block0, dev.block_count)
    except ValueError as e:
        report.error(str(e))
        return report
    overlay: dict[int, bytes] = {}
    try:
        state = journal.read_state(dev, sb)
    except KernelError as e:
        report.error(e.detail or str(e))
        report.journal = "corrupt"
    else:
        if state.status == "committed":
            overlay = dict(state.blocks)
            report.journal = f"holds committed transaction {state.sequence}"
            report.info(
                f"journal holds committed transaction {state.sequence} ({len(state.blocks)} blocks) "
                "that mount will replay; checked as if replayed"
            )
        elif state.status == "incomplete":
            report.journal = f"holds an interrupted transaction {state.sequence}"
            report.info(
                f"journal holds an interrupted transaction ({state.reason}); mount ignores it"
            )
        else:
            report.journal = "empty"
    _Checker(dev, sb, overlay, report).run()
    return report


class _Checker:
    def __init__(
        self, dev: BlockDevice, sb: Superblock, overlay: dict[int, bytes], report: FsckReport
    ) -> None:
        self.dev = dev
        self.sb = sb
        self.overlay = overlay
        self.r = report
        self.owner = array("I", bytes(4 * sb.block_count))
        self.expected = bytearray(sb.block_bitmap_blocks * BLOCK_SIZE)

    def read(self, n: int) -> bytes:
        data = self.overlay.get(n)
        if data is not None:
            return data
        try:
            return self.dev.read_block(n)
        except KernelError as e:
            self.r.error(f"block {n} cannot be read: {e.detail or e}")
            return bytes(BLOCK_SIZE)

    def read_region(self, start: int, count: int) -> bytes:
        return b"".join(self.read(start + i) for i in range(count))

    def run(self) -> None:
        sb, r = self.sb, self.r
        self.ibm = self.read_region(sb.inode_bitmap_start, sb.inode_bitmap_blocks)
        self.bbm = self.read_region(sb.block_bitmap_start, sb.block_bitmap_blocks)
        self.table = self.read_region(sb.inode_table_start, sb.inode_table_blocks)
        for b in range(sb.data_start):
            self.owner[b] = _META
        bitmap.set_range(self.expected, 0, sb.data_start)
        bitmap.set_range(self.expected, sb.block_count, len(self.expected) * 8)

        root = self.inode(ROOT_INO)
        if not root.is_dir:
            r.error(f"root inode {ROOT_INO} is not a directory (mode {root.mode:#o})")
            return
        reached = self.walk_tree()
        self.check_inode_bitmap(reached)
        self.check_block_bitmap()
        r.total_blocks = sb.block_count
        r.used_blocks = len(self.owner) - self.owner.count(0)
        r.total_inodes = sb.inode_count - 1
        r.used_inodes = len(reached)

    def inode(self, ino: int) -> Inode:
        return Inode.unpack(self.table, ino * INODE_SIZE)

    # --- the tree ---------------------------------------------------------------------------

    def walk_tree(self) -> set[int]:
        r = self.r
        refs: Counter[int] = Counter()
        subdirs: Counter[int] = Counter()
        dirs: dict[int, Inode] = {}
        files: dict[int, Inode] = {}
        queue: deque[tuple[int, int]] = deque([(ROOT_INO, ROOT_INO)])
        dirs[ROOT_INO] = self.inode(ROOT_INO)
        while queue:
            d, parent = queue.popleft()
            inode = dirs[d]
            blocks = self.scan_inode(d, inode, keep_map=True)
            dot = dotdot = None
            names: set[bytes] = set()
            for fb in range(inode.size // BLOCK_SIZE):
                blk = blocks.get(fb, 0)
                if not blk:
                    r.error(f"directory {d} has a hole at block {fb}")
                    continue
                try:
                    records = parse_dir_block(self.read(blk))
                except ValueError as e:
                    r.error(f"directory {d} block {fb}: {e}")
                    continue
                for rec in records:
                    if not rec.ino:
                        continue
                    shown = rec.name.decode("utf-8", "backslashreplace")
                    if not valid_name_bytes(rec.name):
                        r.error(f"directory {d}: invalid entry name {shown!r}")
                    if rec.name in names:
                        r.error(f"directory {d}: name {shown!r} appears twice")
                    names.add(rec.name)
                    if rec.name == b".":
                        dot = rec.ino
                        continue
                    if rec.name == b"..":
                        dotdot = rec.ino
                        continue
                    if not 0 < rec.ino < self.sb.inode_count:
                        r.error(
                            f"directory {d}: {shown!r} points to inode {rec.ino}, outside the table"
                        )
                        continue
                    child = self.inode(rec.ino)
                    if child.mode == 0:
                        r.error(f"directory {d}: {shown!r} points to free inode {rec.ino}")
                        continue
                    want = FT_DIR if child.is_dir else FT_REG
                    if rec.ftype != want:
                        r.error(
                            f"directory {d}: {shown!r} has type {rec.ftype}, inode {rec.ino} has type {want}"
                        )
                    refs[rec.ino] += 1
                    if child.is_dir:
                        subdirs[d] += 1
                        if rec.ino in dirs:
                            r.error(
                                f"directory {rec.ino} is reachable twice (again as {shown!r} in "
                                f"directory {d}): a directory hard link or a cycle"
                            )
                        else:
                            dirs[rec.ino] = child
                            queue.append((rec.ino, d))
                    elif rec.ino not in files:
                        files[rec.ino] = child
                        self.scan_inode(rec.ino, child)
            if dot != d:
                r.error(
                    f"directory {d}: '.' is {'missing' if dot is None else f'inode {dot}'}, expected {d}"
                )
            if dotdot != parent:
                r.error(
                    f"directory {d}: '..' is {'missing' if dotdot is None else f'inode {dotdot}'}, "
                    f"expected its parent {parent}"
                )
        for d, inode in dirs.items():
            if inode.nlink != 2 + subdirs[d]:
                r.error(f"directory {d} has link count {inode.nlink}, expected {2 + subdirs[d]}")
        for f, inode in files.items():
            if inode.nlink != refs[f]:
                r.error(f"inode {f} has link count {inode.nlink}, but {refs[f]} directory entries")
        r.directories = len(dirs)
        r.files = len(files)
        return set(dirs) | set(files)

    def scan_inode(self, ino: int, inode: Inode, keep_map: bool = False) -> dict[int, int]:
        """Claim the inode's blocks; returns file block -> device block if `keep_map`."""
        r, sb = self.r, self.sb
        if not (st.S_ISREG(inode.mode) or st.S_ISDIR(inode.mode)):
            r.error(f"inode {ino} has an unknown file type (mode {inode.mode:#o})")
            return {}
        mapping: dict[int, int] = {}
        used = 0
        last_fb = -1

        def claim(blk: int, what: str) -> bool:
            nonlocal used
            if not sb.data_start <= blk < sb.block_count:
                r.error(f"inode {ino}: {what} points to block {blk}, outside the data area")
                return False
            other = self.owner[blk]
            if other:
                who = "file-system metadata" if other == _META else f"inode {other}"
                r.error(f"inode {ino}: block {blk} ({what}) is also used by {who}")
                return False
            self.owner[blk] = ino
            bitmap.set_bit(self.expected, blk)
            used += 1
            return True

        def data(fb: int, blk: int) -> None:
            nonlocal last_fb
            if blk and claim(blk, f"file block {fb}"):
                last_fb = max(last_fb, fb)
                if keep_map:
                    mapping[fb] = blk

        for fb, blk in enumerate(inode.direct):
            data(fb, blk)
        if inode.indirect and claim(inode.indirect, "indirect block"):
            for j, blk in enumerate(PTRS.unpack_from(self.read(inode.indirect))):
                data(N_DIRECT + j, blk)
        if inode.double_indirect and claim(inode.double_indirect, "double indirect block"):
            base = N_DIRECT + PTRS_PER_BLOCK
            for ci, child in enumerate(PTRS.unpack_from(self.read(inode.double_indirect))):
                if child and claim(child, "indirect block"):
                    for j, blk in enumerate(PTRS.unpack_from(self.read(child))):
                        data(base + ci * PTRS_PER_BLOCK + j, blk)
        if used != inode.nblocks:
            r.error(f"inode {ino} records {inode.nblocks} blocks but uses {used}")
        if inode.size > MAX_FILE_SIZE:
            r.error(f"inode {ino} has size {inode.size}, beyond the maximum file size")
        elif last_fb >= ceil_div(inode.size, BLOCK_SIZE):
            r.error(f"inode {ino}: file block {last_fb} lies beyond its size {inode.size}")
        if inode.is_dir and inode.size % BLOCK_SIZE:
            r.error(f"directory {ino} has size {inode.size}, not a whole number of blocks")
        return mapping

    # --- bitmaps ----------------------------------------------------------------------------

    def check_inode_bitmap(self, reached: set[int]) -> None:
        r = self.r
        if not bitmap.test_bit(self.ibm, 0):
            r.error("reserved inode 0 is marked free in the inode bitmap")
        for ino in range(1, self.sb.inode_count):
            used = bitmap.test_bit(self.ibm, ino)
            if ino in reached:
                if not used:
                    r.error(f"inode {ino} is in use but marked free in the inode bitmap")
                continue
            inode = self.inode(ino)
            if used:
                r.error(f"inode {ino} is marked in use but no directory links to it (orphan)")
                if inode.mode:
                    self.scan_inode(ino, inode)  # so its blocks are not reported as leaked too
            elif inode.mode:
                r.error(f"free inode {ino} was not cleared (mode {inode.mode:#o})")

    def check_block_bitmap(self) -> None:
        if self.bbm == bytes(self.expected):
            return
        for i, (got, want) in enumerate(zip(self.bbm, self.expected, strict=True)):
            if got == want:
                continue
            for bit in range(8):
                n = i * 8 + bit
                g, w = (got >> bit) & 1, (want >> bit) & 1
                if g and not w:
                    self.r.error(f"block {n} is marked in use but nothing uses it (leaked)")
                elif w and not g:
                    if n >= self.sb.block_count:
                        self.r.error(
                            f"block bitmap bit {n} lies past the end of the device but is clear"
                        )
                        continue
                    owner = self.owner[n]
                    who = "file-system metadata" if owner == _META else f"inode {owner}"
                    self.r.error(f"block {n} is used by {who} but marked free in the block bitmap")
