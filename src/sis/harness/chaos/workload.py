"""The built-in workload and the nothing-lost oracle.

The workload writes files of known content and records which writes were *acknowledged*:
the write and the fsync both returned success. After the rollback and a power cycle (or a
power cut), every acknowledged byte must read back unchanged; unacknowledged writes may
vanish, acknowledged ones may not. Then the file system is checked offline.

Two ways to write, chosen by what the target offers:

* a SIS kernel (capability `sis_contract`): files `/chaos/f<N>` written through QMP
  `x-sis-syscall` (openat, write, fsync, close), so each call's return value is seen exactly;
  read back the same way, and the image checked with `sis disk fsck` once the kernel is off;
* a guest whose disk holds ext4 (capability `ext4_disk`, the linux-busybox image: made on the
  host with mkfs.ext4): the disk mounted at /mnt, files `/mnt/chaos/f<N>` written to a
  temporary name, fsynced, renamed into place and the directory fsynced (status 0: all of it
  returned success). After each acknowledgement the workload writes a mark (`sis-ack ...`)
  with O_DIRECT to the disk's reserved last MiB, so a write log of the disk shows where each
  acknowledgement was given. Read back in the guest with sha256sum, and on the host from a
  copy of the image: journal replayed, `e2fsck -fn`, files read with debugfs (`hostcheck`);
* any other guest with a `disk`: raw 4 KiB blocks of `/dev/vda` written with `dd conv=fsync`
  (status 0: written and flushed), verified in the guest after the power cycle and again in
  the disk image once QEMU has exited.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sis.contract.syscalls import AT_FDCWD, NR, O_CREAT, O_TRUNC, O_WRONLY
from sis.harness.chaos.injectors import BLOCK, RAW_BASE_BLOCK, RAW_BLOCKS
from sis.harness.images.ext4disk import MARK_BYTES
from sis.harness.qmp import QMPError

if TYPE_CHECKING:
    from sis.harness.session import Session

FILE_SIZE = BLOCK
SIS_DIR = "/chaos"
BATCH_TIMEOUT_S = 10.0


class WorkloadError(Exception):
    """The workload could not be run at all (the lab's trouble, or a target that hung)."""


@dataclass
class Write:
    index: int
    where: str  # `/chaos/f3`, or `/dev/vda block 259`
    size: int
    sha256: str
    acked: bool
    why: str = ""  # why it was not acknowledged
    t: float = 0.0
    mark: str = ""  # the acknowledgement mark written after it (ext4 workload)


def content(label: str, index: int) -> bytes:
    """The known bytes of file `index` in the run `label` (experiment, seed, generation)."""
    line = f"sis-chaos {label} f{index}".encode()
    return (line + b"\n") * (FILE_SIZE // (len(line) + 1) + 1)


def known_bytes(label: str, index: int) -> bytes:
    return content(label, index)[:FILE_SIZE]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class WorkloadOptions:
    """How a guest's workload writes. Each setting plants a bug a self-test turns on; the
    oracle knows nothing of them."""

    mount_options: str = ""  # ext4 mount options of a Linux guest, e.g. `nobarrier`
    ack_before_fsync: bool = False  # the workload acknowledges before fsync returns


def workload_for(session: Session, options: WorkloadOptions | None = None) -> Workload | None:
    caps = session.capabilities
    options = options or WorkloadOptions()
    if "sis_contract" in caps:
        return SyscallFiles(session)
    if "ext4_disk" in caps and "shell" in caps:
        return Ext4Files(
            session,
            mount_options=options.mount_options,
            ack_before_fsync=options.ack_before_fsync,
        )
    if "disk" in caps and "shell" in caps:
        return RawBlocks(session)
    return None


class Workload:
    where: str
    session: Session
    #: Called with each write as soon as its outcome is known (the crash-point experiment
    #: places acknowledgements in the disk's write log with it).
    on_write: Callable[[Write], None] | None = None

    def _done(self, out: list[Write], w: Write) -> None:
        out.append(w)
        if self.on_write is not None:
            self.on_write(w)

    def prepare(self) -> None:
        """Before any fault: make what the writes need (a directory)."""

    def write(self, label: str, files: int, first: int = 0) -> list[Write]:
        """Write files `first` .. `first + files - 1` (a later batch writes new places, so
        what an earlier one acknowledged stays to be checked)."""
        raise NotImplementedError

    def read_back(self, writes: list[Write]) -> dict[int, str | None]:
        """sha256 of what each written place holds now, as the running guest reads it
        (None: it could not be read)."""
        raise NotImplementedError

    def offline(self, image: Path, writes: list[Write]) -> tuple[dict[int, str | None], str]:
        """After the target is off: what the image holds, and the file-system check's
        complaint ("" when clean or when there is no file system to check)."""
        raise NotImplementedError

    def excuse(self, complaint: str) -> str:
        """Why a file-system check's complaint is not a failure here ("" when it is one)."""
        return ""


class SyscallFiles(Workload):
    def __init__(self, session: Session) -> None:
        self.session = session
        self.where = f"files {SIS_DIR}/f<N> of the kernel's file system (x-sis-syscall)"

    def _batch(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        qmp = self.session.qmp
        if qmp is None:
            raise WorkloadError("no QMP monitor")
        try:
            r = qmp.execute(
                "x-sis-syscall",
                {"calls": calls, "timeout": BATCH_TIMEOUT_S},
                timeout=BATCH_TIMEOUT_S + 5,
            )
        except QMPError as e:
            raise WorkloadError(str(e)) from None
        return list(r.get("results", [])) if isinstance(r, dict) else []

    @staticmethod
    def _path(index: int) -> str:
        return f"{SIS_DIR}/f{index}"

    def prepare(self) -> None:
        mkdir = {"nr": NR["mkdirat"], "args": [AT_FDCWD, "@data", 0o755], "data": _cstr(SIS_DIR)}
        with contextlib.suppress(WorkloadError):  # under a fault even this may fail: then
            self._batch([mkdir])  # the writes fail too, and are not acknowledged

    def write(self, label: str, files: int, first: int = 0) -> list[Write]:
        self.prepare()  # a restart since may have come with a fresh disk
        out = []
        for i in range(first, first + files):
            data = known_bytes(label, i)
            path = self._path(i)
            flags = O_WRONLY | O_CREAT | O_TRUNC
            # A fresh executor task: its first descriptor after 0-2 is 3.
            calls = [
                {
                    "nr": NR["openat"],
                    "args": [AT_FDCWD, "@data", flags, 0o644],
                    "data": _cstr(path),
                },
                {"nr": NR["write"], "args": [3, "@data", len(data)], "data": data.hex()},
                {"nr": NR["fsync"], "args": [3]},
                {"nr": NR["close"], "args": [3]},
            ]
            t = time.time()
            try:
                res = self._batch(calls)
            except WorkloadError as e:
                self._done(out, Write(i, path, len(data), digest(data), False, str(e), t))
                if not self.session.alive():
                    break
                continue
            why = _why_not_acked(res, len(data))
            self._done(out, Write(i, path, len(data), digest(data), not why, why, t))
        return out

    def read_back(self, writes: list[Write]) -> dict[int, str | None]:
        seen: dict[int, str | None] = {}
        for w in writes:
            calls = [
                {"nr": NR["openat"], "args": [AT_FDCWD, "@data", 0, 0], "data": _cstr(w.where)},
                {"nr": NR["read"], "args": [3, "@scratch", w.size], "output": w.size},
                {"nr": NR["close"], "args": [3]},
            ]
            try:
                res = self._batch(calls)
            except WorkloadError:
                seen[w.index] = None
                continue
            if len(res) < 2 or res[0].get("ret", -1) < 0 or res[1].get("ret", -1) < 0:
                seen[w.index] = None
                continue
            got = bytes.fromhex(res[1].get("output", ""))[: res[1]["ret"]]
            seen[w.index] = digest(got)
        return seen

    def offline(self, image: Path, writes: list[Write]) -> tuple[dict[int, str | None], str]:
        seen: dict[int, str | None] = {}
        for w in writes:
            r = _sis(["disk", "cat", str(image), w.where], text=False)
            seen[w.index] = digest(r.stdout) if r.returncode == 0 else None
        fsck = _sis(["disk", "fsck", str(image)], text=True)
        complaint = ""
        if fsck.returncode != 0:
            lines = (fsck.stdout + fsck.stderr).strip().splitlines()
            complaint = f"sis disk fsck: {lines[-1] if lines else f'exit {fsck.returncode}'}"
        return seen, complaint


class RawBlocks(Workload):
    def __init__(self, session: Session) -> None:
        self.session = session
        self.where = f"raw 4 KiB blocks of /dev/vda from block {RAW_BASE_BLOCK} (dd conv=fsync)"

    @staticmethod
    def _block(index: int) -> int:
        return RAW_BASE_BLOCK + index % RAW_BLOCKS

    def write(self, label: str, files: int, first: int = 0) -> list[Write]:
        from sis.harness.session import TargetDied

        out = []
        for i in range(first, first + files):
            data = known_bytes(label, i)
            line = f"sis-chaos {label} f{i}"
            block = self._block(i)
            # `yes` repeats the line; the file is then written and flushed in one dd: status 0
            # means write() and fsync() both succeeded.
            command = (
                f"yes '{line}' | head -c {len(data)} > /tmp/sis-w && "
                f"dd if=/tmp/sis-w of=/dev/vda bs={BLOCK} seek={block} count=1 conv=fsync 2>&1"
            )
            t = time.time()
            where = f"/dev/vda block {block}"
            try:
                r = self.session.run(command, timeout=60)
            except TargetDied as e:
                out.append(Write(i, where, len(data), digest(data), False, str(e), t))
                break
            why = "" if r.status == 0 else f"dd exit {r.status}: {r.output.strip()[-200:]}"
            out.append(Write(i, where, len(data), digest(data), not why, why, t))
        return out

    def read_back(self, writes: list[Write]) -> dict[int, str | None]:
        seen: dict[int, str | None] = {}
        for w in writes:
            block = self._block(w.index)
            r = self.session.run(
                f"dd if=/dev/vda bs={BLOCK} skip={block} count=1 2>/dev/null | sha256sum",
                timeout=30,
            )
            word = r.output.split()[0] if r.output.split() else ""
            seen[w.index] = word if r.status == 0 and len(word) == 64 else None
        return seen

    def offline(self, image: Path, writes: list[Write]) -> tuple[dict[int, str | None], str]:
        seen: dict[int, str | None] = {}
        try:
            with open(image, "rb") as f:
                for w in writes:
                    f.seek(self._block(w.index) * BLOCK)
                    seen[w.index] = digest(f.read(w.size))
        except OSError as e:
            return {w.index: None for w in writes}, f"cannot read {image}: {e.strerror or e}"
        return seen, ""  # raw blocks: no file system to check


EXT4_MOUNT = "/mnt"
EXT4_DIR = f"{EXT4_MOUNT}/chaos"
MARK_PREFIX = "sis-ack"


class Ext4Files(Workload):
    """Files on the guest's ext4 disk (see the module docstring). `mount_options` are ext4's
    (`nobarrier` plants a bug); `ack_before_fsync` acknowledges each write before its fsync,
    a planted bug of the workload's own."""

    def __init__(
        self, session: Session, *, mount_options: str = "", ack_before_fsync: bool = False
    ) -> None:
        self.session = session
        self.mount_options = ",".join(o for o in ("errors=remount-ro", mount_options) if o)
        self.ack_before_fsync = ack_before_fsync
        self.where = f"files {EXT4_DIR}/f<N> on the guest's ext4 disk (fsync, rename, fsync)"
        self.mark_block: int | None = None
        self.marks = 0
        self.created = time.time()

    def _mount(self) -> None:
        command = (
            f"mkdir -p {EXT4_MOUNT} && {{ grep -q ' {EXT4_MOUNT} ' /proc/mounts || "
            f"mount -t ext4 -o {self.mount_options} /dev/vda {EXT4_MOUNT}; }} && "
            f"mkdir -p {EXT4_DIR} && read -r s < /sys/block/vda/size && echo sectors=$s"
        )
        r = self.session.run(command, timeout=60)
        word = r.output.strip().rpartition("sectors=")[2]
        if r.status != 0 or not word.isdigit():
            raise WorkloadError(f"cannot mount the ext4 disk: {r.output.strip()[-200:]}")
        self.mark_block = int(word) * 512 // BLOCK - MARK_BYTES // BLOCK

    def prepare(self) -> None:
        self._mount()

    def _mark_command(self, label: str) -> tuple[str, str]:
        self.marks += 1
        text = f"{MARK_PREFIX} {hashlib.sha256(label.encode()).hexdigest()[:12]} {self.marks}"
        command = (
            f"printf '{text}\\n' | dd of=/dev/vda bs={BLOCK} seek={self.mark_block} "
            "oflag=direct conv=sync,notrunc 2>/dev/null"
        )
        return text, command

    def write(self, label: str, files: int, first: int = 0) -> list[Write]:
        from sis.harness.session import TargetDied

        try:
            self._mount()  # a power cycle since may have left it unmounted
        except WorkloadError as e:
            return [Write(0, f"{EXT4_DIR}/f0", FILE_SIZE, "", False, str(e), time.time())]
        out = []
        for i in range(first, first + files):
            data = known_bytes(label, i)
            line = f"sis-chaos {label} f{i}"
            path, tmp = f"{EXT4_DIR}/f{i}", f"{EXT4_DIR}/.f{i}.tmp"
            mark, mark_cmd = self._mark_command(label)
            fill = f"yes '{line}' | head -c {len(data)} > {tmp}"
            durable = f"sync {tmp} && mv {tmp} {path} && sync {EXT4_DIR}"
            if self.ack_before_fsync:
                # The planted bug: the acknowledgement comes before fsync has returned.
                command = f"if {fill} && {mark_cmd}; then {durable}; else false; fi"
            else:
                command = f"if {fill} && {durable}; then {mark_cmd}; true; else false; fi"
            t = time.time()
            try:
                r = self.session.run(command, timeout=60)
            except TargetDied as e:
                out.append(Write(i, path, len(data), digest(data), False, str(e), t))
                break
            why = "" if r.status == 0 else f"exit {r.status}: {r.output.strip()[-200:]}"
            self._done(out, Write(i, path, len(data), digest(data), not why, why, t, mark))
        return out

    def read_back(self, writes: list[Write]) -> dict[int, str | None]:
        try:
            self._mount()
        except WorkloadError:
            return {w.index: None for w in writes}
        r = self.session.run(f"sha256sum {EXT4_DIR}/f* 2>/dev/null", timeout=60)
        sums = {}
        for line in r.output.splitlines():
            parts = line.split()
            if len(parts) == 2 and len(parts[0]) == 64:
                sums[parts[1]] = parts[0]
        return {w.index: sums.get(w.where) for w in writes}

    def offline(self, image: Path, writes: list[Write]) -> tuple[dict[int, str | None], str]:
        from sis.harness.chaos.crashpoints import sparse_copy
        from sis.harness.chaos.hostcheck import Ext4Checker, HostToolMissing

        try:
            checker = Ext4Checker(EXT4_MOUNT)
        except HostToolMissing as e:
            return {w.index: None for w in writes}, str(e)
        with tempfile.TemporaryDirectory(prefix="sis-ext4-") as tmp:
            copy = Path(tmp) / "disk.img"
            try:
                sparse_copy(image, copy)
            except OSError as e:
                return {w.index: None for w in writes}, f"cannot copy {image}: {e}"
            found = checker.check(copy, sorted({w.where for w in writes}))
        return {w.index: found.contents.get(w.where) for w in writes}, found.fsck

    def excuse(self, complaint: str) -> str:
        texts = []
        for boot in self.session.boots:
            path = boot.artifacts.get("kernel_log")
            with contextlib.suppress(OSError):
                if path and Path(path).stat().st_mtime >= self.created:  # a boot it ran on
                    texts.append(Path(path).read_text(errors="replace"))
        line = io_error_reported(texts)
        return f"allowed: the kernel reported the I/O error ({line})" if line else ""


#: The kernel telling that the disk failed it: a block-layer I/O error on the chaos disk, or
#: ext4/jbd2 giving up on it. After one of these, ext4 marking itself with errors (and fsck
#: finding them) is the correct behaviour, not a failure.
_IO_ERROR_REPORTED = re.compile(
    r"I/O error,? dev vda|Buffer I/O error on dev(ice)? vda|EXT4-fs (error|warning) \(device vda\)"
    r"|JBD2: .*(IO|I/O) (error|failure)|Aborting journal on device vda|critical medium error"
)


def io_error_reported(texts: list[str]) -> str:
    """The first kernel log line that reports an I/O error on the chaos disk ("" if none)."""
    for text in texts:
        for line in text.splitlines():
            if _IO_ERROR_REPORTED.search(line):
                return line.strip()[:200]
    return ""


def lost(writes: list[Write], seen: dict[int, str | None]) -> list[Write]:
    """Acknowledged writes whose bytes did not come back. Only the last write to a place
    counts: one begun after an acknowledged write and not acknowledged itself (cut short by a
    crash) may leave the old bytes, the new ones or a truncated file."""
    last: dict[int, Write] = {}
    for w in writes:
        last[w.index] = w
    return [w for w in last.values() if w.acked and seen.get(w.index) != w.sha256]


def as_dicts(writes: list[Write]) -> list[dict[str, Any]]:
    return [asdict(w) for w in writes]


def _cstr(text: str) -> str:
    return (text.encode() + b"\0").hex()


def _why_not_acked(res: list[dict[str, Any]], size: int) -> str:
    names = ("openat", "write", "fsync", "close")
    for name, r in zip(names, res, strict=False):
        if r.get("ret", -1) < 0:
            return f"{name}: {r.get('errno', r.get('ret'))}"
    if len(res) < 3:
        return "the batch stopped early"
    if res[1].get("ret") != size:
        return f"write: short ({res[1].get('ret')} of {size} bytes)"
    return ""


def _sis(args: list[str], *, text: bool) -> subprocess.CompletedProcess[Any]:
    """The offline disk tools as a user runs them (the lab never imports the kernel)."""
    return subprocess.run(
        [sys.executable, "-m", "sis", *args],
        capture_output=True,
        text=text,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
