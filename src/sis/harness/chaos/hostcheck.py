"""Checking a disk image on the host, after a power cut or at a crash point: the file system's
journal replayed, then the file system checked, then the acknowledged files read back.

* ext4 (the Linux guest's disk): `e2fsck -y -E journal_only` replays the journal on the image
  (a copy: the caller owns it), as a mount would (`e2fsck -fn` alone skips recovery and reports
  spurious errors after a crash); then `e2fsck -fn` must find nothing (exit 0); then `debugfs
  rdump` copies the workload's directory out, and each file is read from the copy.
* the reference kernel's file system: `sis disk fsck` (it checks a committed journal as
  replayed) and the files read the same way `sis disk cat` does, in one process of the offline
  tools (the lab never imports the kernel).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sis.harness.chaos.crashpoints import ImageCheck

__all__ = ["Ext4Checker", "HostToolMissing", "SisDiskChecker", "e2fsprogs_missing"]

TOOL_TIMEOUT_S = 120
OUTPUT_TAIL = 2000


class HostToolMissing(Exception):
    """A host tool the check needs is not installed (the lab's trouble, an ERROR)."""


def _tool(name: str) -> str:
    for path in (shutil.which(name), f"/usr/sbin/{name}", f"/sbin/{name}"):
        if path and Path(path).exists():
            return path
    raise HostToolMissing(f"{name} not found: install e2fsprogs")


def e2fsprogs_missing() -> str:
    """Why ext4 images cannot be checked here ("" when they can)."""
    try:
        for name in ("e2fsck", "debugfs"):
            _tool(name)
    except HostToolMissing as e:
        return str(e)
    return ""


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        errors="replace",
        stdin=subprocess.DEVNULL,
        timeout=TOOL_TIMEOUT_S,
    )


class Ext4Checker:
    """Checks an ext4 image in place (pass a copy). `root` is where the guest mounted it: the
    workload's paths are under it, the image's are not."""

    def __init__(self, root: str = "/mnt") -> None:
        self.root = root.rstrip("/")
        self.e2fsck = _tool("e2fsck")
        self.debugfs = _tool("debugfs")

    def _inside(self, path: str) -> str:
        if self.root and path.startswith(self.root + "/"):
            return path[len(self.root) :]
        return path

    def check(self, image: Path, paths: list[str]) -> ImageCheck:
        replay = _run([self.e2fsck, "-y", "-E", "journal_only", str(image)])
        output = f"$ e2fsck -y -E journal_only\n{replay.stdout}{replay.stderr}"
        complaint = ""
        if replay.returncode >= 4:
            complaint = f"journal replay failed (e2fsck exit {replay.returncode})"
        check = _run([self.e2fsck, "-fn", str(image)])
        output += f"$ e2fsck -fn\n{check.stdout}{check.stderr}"
        if check.returncode != 0 and not complaint:
            complaint = f"e2fsck -fn exit {check.returncode}: {_findings(check.stdout)}"
        return ImageCheck(self._contents(image, paths), complaint, output[-OUTPUT_TAIL:])

    def _contents(self, image: Path, paths: list[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = dict.fromkeys(paths)
        if not paths:
            return out
        with tempfile.TemporaryDirectory(prefix="sis-debugfs-") as tmp:
            dirs = sorted({str(Path(self._inside(p)).parent) for p in paths})
            commands = []
            for i, d in enumerate(dirs):
                (Path(tmp) / str(i)).mkdir()
                commands.append(f'rdump "{d}" "{tmp}/{i}"')
            script = Path(tmp) / "commands"
            script.write_text("\n".join(commands) + "\n")
            _run([self.debugfs, "-f", str(script), str(image)])
            for p in paths:
                inside = Path(self._inside(p))
                where = Path(tmp) / str(dirs.index(str(inside.parent))) / inside.parent.name
                if str(inside.parent) == "/":
                    where = Path(tmp) / str(dirs.index("/"))
                f = where / inside.name
                try:
                    out[p] = hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else None
                except OSError:
                    out[p] = None
        return out


def _findings(stdout: str) -> str:
    """The lines of e2fsck's output that say what is wrong (not the pass headers)."""
    lines = [
        ln.strip()
        for ln in stdout.splitlines()
        if ln.strip() and not ln.startswith(("Pass ", "e2fsck ")) and "files (" not in ln
    ]
    return "; ".join(lines)[:300] or "see the fsck output"


class SisDiskChecker:
    """Checks images of the reference kernel's file system with its offline tools
    (`sis disk inspect`, as a user runs them: the lab never imports the kernel), in one process
    of them kept for all the images of a run (`close` ends it)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None

    def _worker(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "sis", "disk", "inspect"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        return self._proc

    def check(self, image: Path, paths: list[str]) -> ImageCheck:
        proc = self._worker()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps({"image": str(image), "paths": paths}) + "\n")
            proc.stdin.flush()
            found = json.loads(proc.stdout.readline())
            if "error" in found:
                raise ValueError(found["error"])
        except (OSError, ValueError) as e:
            self.close()
            return ImageCheck(dict.fromkeys(paths), f"sis disk tools failed: {e}", "")
        text = "\n".join(found["findings"])
        last = text.strip().splitlines()[-1] if text.strip() else "not clean"
        complaint = "" if found["clean"] else f"sis disk fsck: {last}"
        return ImageCheck(dict(found["files"]), complaint, text[-OUTPUT_TAIL:])

    def close(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(OSError):
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
