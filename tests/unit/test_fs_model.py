"""Property test: random operations on the file system and on a dict-of-paths model give the
same results and the same errnos; fsck is clean at the end and after a remount, which shows
the same tree."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from fsops import run_fs_op
from sis.kernel.drivers.block import MemoryBlockDevice
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs import FileSystem, fsck, walk

NAMES = ["a", "b", "c", "é", "x" * 255, "y" * 256]
OFFSETS = [0, 1, 4095, 4096, 5000, 12 * 4096 - 10, 1036 * 4096 + 7]
SIZES = [0, 1, 100, 4096, 4097, 50_000]


class Model:
    """What POSIX says should happen, on a dict of paths (None = directory)."""

    def __init__(self) -> None:
        self.nodes: dict[str, bytes | None] = {"/": None}

    @staticmethod
    def parts(path: str) -> list[str]:
        return [p for p in path.split("/") if p]

    def walk(self, parts: list[str]) -> str:
        cur = "/"
        for p in parts:  # as Linux walks: each name checked when the walk reaches it
            if self.nodes[cur] is not None:
                raise KernelError(Errno.ENOTDIR)
            if len(p.encode()) > 255:
                raise KernelError(Errno.ENAMETOOLONG)
            nxt = cur.rstrip("/") + "/" + p
            if nxt not in self.nodes:
                raise KernelError(Errno.ENOENT)
            cur = nxt
        return cur

    def resolve(self, path: str) -> str:
        return self.walk(self.parts(path))

    def parent(self, path: str) -> str:
        parts = self.parts(path)
        d = self.walk(parts[:-1])
        if self.nodes[d] is not None:
            raise KernelError(Errno.ENOTDIR)
        if len(parts[-1].encode()) > 255:
            raise KernelError(Errno.ENAMETOOLONG)
        return d.rstrip("/") + "/" + parts[-1]

    def children(self, d: str) -> list[str]:
        prefix = d.rstrip("/") + "/"
        return [
            p for p in self.nodes if p.startswith(prefix) and "/" not in p[len(prefix) :] and p != d
        ]

    def apply(self, op: tuple):  # noqa: C901 - one branch per operation
        kind = op[0]
        if kind in ("mkdir", "create"):
            p = self.parent(op[1])
            if p in self.nodes:
                raise KernelError(Errno.EEXIST)
            self.nodes[p] = None if kind == "mkdir" else b""
            return None
        if kind == "unlink":
            p = self.parent(op[1])
            if p not in self.nodes:
                raise KernelError(Errno.ENOENT)
            if self.nodes[p] is None:
                raise KernelError(Errno.EISDIR)
            del self.nodes[p]
            return None
        if kind == "rmdir":
            p = self.parent(op[1])
            if p not in self.nodes:
                raise KernelError(Errno.ENOENT)
            if self.nodes[p] is not None:
                raise KernelError(Errno.ENOTDIR)
            if self.children(p):
                raise KernelError(Errno.ENOTEMPTY)
            del self.nodes[p]
            return None
        if kind == "rename":
            src, dst = self.parent(op[1]), self.parent(op[2])
            if src not in self.nodes:
                raise KernelError(Errno.ENOENT)
            if src == dst:
                return None
            src_dir = self.nodes[src] is None
            if src_dir and dst.startswith(src + "/"):
                raise KernelError(Errno.EINVAL)
            if dst in self.nodes:
                dst_dir = self.nodes[dst] is None
                if src_dir and not dst_dir:
                    raise KernelError(Errno.ENOTDIR)
                if not src_dir and dst_dir:
                    raise KernelError(Errno.EISDIR)
                if dst_dir and self.children(dst):
                    raise KernelError(Errno.ENOTEMPTY)
                del self.nodes[dst]
            moved = {p: v for p, v in self.nodes.items() if p == src or p.startswith(src + "/")}
            for p in moved:
                del self.nodes[p]
            for p, v in moved.items():
                self.nodes[dst + p[len(src) :]] = v
            return None
        if kind == "readdir":
            p = self.resolve(op[1])
            if self.nodes[p] is not None:
                raise KernelError(Errno.ENOTDIR)
            return sorted((c.rsplit("/", 1)[1], self.nodes[c] is None) for c in self.children(p))
        p = self.resolve(op[1])
        data = self.nodes[p]
        if kind == "stat":
            if data is None:
                return (True, 2 + sum(1 for c in self.children(p) if self.nodes[c] is None))
            return (False, len(data))
        if data is None:
            raise KernelError(Errno.EISDIR)
        if kind == "write":
            off, chunk = op[2], op[3]
            data = data.ljust(off, b"\0")
            self.nodes[p] = data[:off] + chunk + data[off + len(chunk) :]
            return len(chunk)
        if kind == "truncate":
            self.nodes[p] = data[: op[2]].ljust(op[2], b"\0")
            return None
        if kind == "read":
            return data[op[2] : op[2] + op[3]]
        raise AssertionError(kind)


def tree(fs: FileSystem) -> dict[str, bytes | None]:
    return {p: None if s.is_dir else fs.read(s.ino, 0, s.size) for p, s in walk(fs)}


NAME = st.sampled_from(NAMES[:3] * 4 + NAMES[3:])


class FileSystemVsModel(RuleBasedStateMachine):
    """Each rule picks paths that mostly exist (or are new names in existing directories), so
    that operations meet each other; every result and errno is compared with the model."""

    def __init__(self) -> None:
        super().__init__()
        self.dev = MemoryBlockDevice(2048)
        FileSystem.format(self.dev, inodes=256, journal_blocks=64)
        self.fs = FileSystem.mount(self.dev)
        self.model = Model()

    def path(self, data: st.DataObject, want: str) -> str:
        """A path for an operation: mostly an existing file (`want="file"`), an existing
        directory ("dir") or a name in an existing directory ("new"); sometimes anything,
        so that the error paths are exercised too."""
        files = sorted(p for p, v in self.model.nodes.items() if v is not None)
        dirs = sorted(self.model.nodes.keys() - set(files))
        how = data.draw(st.sampled_from([want] * 4 + ["new", "file", "dir", "any"]))
        if how == "file" and files:
            return data.draw(st.sampled_from(files))
        if how == "dir" and len(dirs) > 1:
            return data.draw(st.sampled_from(dirs[1:]))  # not "/", which has no name
        if how == "any":
            return "/" + "/".join(data.draw(st.lists(NAME, min_size=1, max_size=3)))
        base = data.draw(st.sampled_from(dirs))
        return base.rstrip("/") + "/" + data.draw(NAME)

    def check(self, op: tuple) -> None:
        try:
            want = ("ok", self.model.apply(op))
        except KernelError as e:
            want = ("err", e.errno)
        try:
            got = ("ok", run_fs_op(self.fs, op))
        except KernelError as e:
            got = ("err", e.errno)
        assert got == want, f"{op[:3]}: file system gave {got}, model {want}"

    @initialize()
    def populate(self) -> None:
        for op in [("mkdir", "/a"), ("mkdir", "/a/b"), ("create", "/a/c"), ("create", "/b")]:
            self.check(op)
        self.check(("write", "/b", 0, b"hello"))

    @rule(data=st.data(), kind=st.sampled_from(["mkdir", "create"]))
    def make(self, data: st.DataObject, kind: str) -> None:
        self.check((kind, self.path(data, "new")))

    @rule(data=st.data())
    def unlink(self, data: st.DataObject) -> None:
        self.check(("unlink", self.path(data, "file")))

    @rule(data=st.data())
    def rmdir(self, data: st.DataObject) -> None:
        self.check(("rmdir", self.path(data, "dir")))

    @rule(data=st.data(), kind=st.sampled_from(["readdir", "stat"]))
    def look(self, data: st.DataObject, kind: str) -> None:
        self.check((kind, self.path(data, data.draw(st.sampled_from(["dir", "file"])))))

    @rule(data=st.data())
    def rename(self, data: st.DataObject) -> None:
        src = self.path(data, data.draw(st.sampled_from(["file", "dir"])))
        self.check(
            ("rename", src, self.path(data, data.draw(st.sampled_from(["new", "file", "dir"]))))
        )

    @rule(
        data=st.data(), offset=st.sampled_from(OFFSETS), chunk=st.binary(min_size=1, max_size=300)
    )
    def write(self, data: st.DataObject, offset: int, chunk: bytes) -> None:
        self.check(("write", self.path(data, "file"), offset, chunk))

    @rule(data=st.data(), size=st.sampled_from(SIZES))
    def truncate(self, data: st.DataObject, size: int) -> None:
        self.check(("truncate", self.path(data, "file"), size))

    @rule(data=st.data(), offset=st.sampled_from(OFFSETS), length=st.integers(0, 9000))
    def read(self, data: st.DataObject, offset: int, length: int) -> None:
        self.check(("read", self.path(data, "file"), offset, length))

    @rule()
    def sync(self) -> None:
        self.fs.sync()

    @rule()
    def remount(self) -> None:
        self.fs.unmount()
        self.fs = FileSystem.mount(self.dev)
        assert tree(self.fs) == self.model.nodes

    def teardown(self) -> None:
        assert tree(self.fs) == self.model.nodes
        self.fs.sync()
        report = fsck(self.dev)
        assert report.clean, report.findings
        self.fs.unmount()
        self.fs = FileSystem.mount(self.dev)
        assert tree(self.fs) == self.model.nodes
        assert fsck(self.dev).clean


FileSystemVsModel.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
test_fs_matches_model = FileSystemVsModel.TestCase
