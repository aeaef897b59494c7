"""Debian packages of any architecture, fetched and unpacked without touching the host's dpkg.

A private APT configuration per release and architecture (its own state, cache and sources
under the user cache, `APT::Architecture` set to the guest's) lets `apt-get download` fetch
`linux-image-*-arm64` or `busybox-static:riscv64` on an amd64 host; `dpkg-deb -x` unpacks them
into a directory of their own and `depmod -b` writes the modules.dep Debian leaves to
installation. Nothing is installed; the host's dpkg architectures stay as they were.

    ~/.cache/sis/debian/<suite>-<arch>/
      apt.conf  sources.list.d/  state/  archives/     the private APT
      roots/<package>_<version>/                       unpacked packages
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from sis.harness.images.arches import ArchSpec
from sis.harness.images.cache import locked
from sis.harness.images.errors import ImageError

__all__ = ["DebianArchive", "debian_cache_dir", "depmod", "unpack_deb"]

MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
_TIMEOUT = 600  # a kernel package is ~60-110 MB
# Answers of apt-cache for this process, per archive directory and package; an update clears them.
_CANDIDATES: dict[tuple[str, str], tuple[str, list[str]]] = {}


def debian_cache_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "sis" / "debian"


class DebianArchive:
    """Debian's packages for one architecture, as the builder needs them."""

    def __init__(self, arch: ArchSpec, cache_dir: Path | None = None) -> None:
        self.arch = arch
        self.dir = (cache_dir or debian_cache_dir()) / f"{arch.suite}-{arch.debian}"
        self._updated = False

    # ------------------------------------------------------------------ configuration

    def _configure(self) -> Path:
        d = self.dir
        for sub in ("state/lists/partial", "archives/partial", "sources.list.d", "parts", "roots"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        mirror = os.environ.get("SIS_DEBIAN_MIRROR", MIRROR)
        security = os.environ.get("SIS_DEBIAN_SECURITY_MIRROR", SECURITY_MIRROR)
        suite, arch = self.arch.suite, self.arch.debian
        sources = (
            f"Types: deb\nURIs: {mirror}\nSuites: {suite} {suite}-updates\nComponents: main\n"
            f"Architectures: {arch}\nSigned-By: {KEYRING}\n\n"
            f"Types: deb\nURIs: {security}\nSuites: {suite}-security\nComponents: main\n"
            f"Architectures: {arch}\nSigned-By: {KEYRING}\n"
        )
        (d / "sources.list.d" / "debian.sources").write_text(sources)
        conf = [
            f'APT::Architecture "{arch}";',
            f'APT::Architectures {{ "{arch}"; }};',
            f'Dir::State "{d}/state";',
            'Dir::State::status "/dev/null";',  # nothing is installed here
            f'Dir::Cache "{d}";',
            f'Dir::Cache::archives "{d}/archives";',
            'Dir::Etc::SourceList "/dev/null";',
            f'Dir::Etc::SourceParts "{d}/sources.list.d";',
            'Dir::Etc::Preferences "/dev/null";',
            f'Dir::Etc::PreferencesParts "{d}/parts";',
            f'Dir::Etc::Parts "{d}/parts";',
        ]
        if os.geteuid() == 0:
            # apt's _apt user cannot write into root's cache directory.
            conf.append('APT::Sandbox::User "root";')
        path = d / "apt.conf"
        path.write_text("\n".join(conf) + "\n")
        return path

    def _apt(self, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        if shutil.which(argv[0]) is None:
            raise ImageError(f"{argv[0]} not found: building a {self.arch.debian} image needs APT")
        env = {**os.environ, "APT_CONFIG": str(self._configure()), "LC_ALL": "C"}
        try:
            return subprocess.run(
                list(argv), capture_output=True, text=True, env=env, cwd=cwd, timeout=_TIMEOUT
            )
        except (OSError, subprocess.SubprocessError) as e:
            raise ImageError(f"{' '.join(argv[:2])} failed: {e}") from None

    def _has_index(self) -> bool:
        lists = self.dir / "state" / "lists"
        return lists.is_dir() and any(lists.glob("*_Packages*"))

    def update(self) -> None:
        """Fetch the package index (~1-4 s). A partly failed update (one suite unreachable)
        is fine as long as an index is there."""
        done = self._apt("apt-get", "update", "-q")
        self._updated = True
        for key in [k for k in _CANDIDATES if k[0] == str(self.dir)]:
            del _CANDIDATES[key]
        if not self._has_index():
            detail = (done.stderr.strip().splitlines() or ["no package index"])[-1]
            raise ImageError(
                f"cannot fetch Debian's {self.arch.suite} {self.arch.debian} package index: {detail}"
            )

    def _ensure_index(self, refresh: bool) -> None:
        if (refresh and not self._updated) or not self._has_index():
            self.update()

    # ------------------------------------------------------------------ queries

    def candidate(self, package: str, *, refresh: bool = False) -> tuple[str, list[str]] | None:
        """(version, dependency names) of the package APT would pick, or None if unknown."""
        self._ensure_index(refresh)
        key = (str(self.dir), package)
        if key in _CANDIDATES:  # every boot of a run asks again: apt-cache costs ~0.3 s
            return _CANDIDATES[key]
        found = self._candidate(package)
        if found is not None:
            _CANDIDATES[key] = found
        return found

    def _candidate(self, package: str) -> tuple[str, list[str]] | None:
        done = self._apt("apt-cache", "show", "--no-all-versions", package)
        if done.returncode != 0 or not done.stdout.strip():
            if not self._updated:  # an old index may predate the package: look once more
                self.update()
                return self._candidate(package)
            return None
        fields = _fields(done.stdout)
        depends = [
            alt.split()[0].split(":")[0]
            for item in fields.get("Depends", "").split(",")
            for alt in item.split("|")[:1]
            if alt.strip()
        ]
        return fields.get("Version", ""), depends

    def default_kernel(self, *, refresh: bool = False) -> str:
        """The kernel release of the plain flavour: what `linux-image-<arch>` depends on."""
        meta = f"linux-image-{self.arch.debian}"
        found = self.candidate(meta, refresh=refresh)
        if found is not None:
            for dep in found[1]:
                release = dep.removeprefix("linux-image-")
                if dep.startswith("linux-image-") and release.endswith(f"-{self.arch.debian}"):
                    return release
        raise ImageError(
            f"Debian {self.arch.suite} {self.arch.debian}: {meta} names no kernel package"
        )

    # ------------------------------------------------------------------ packages

    def unpack(self, package: str, *, refresh: bool = False) -> tuple[Path, str]:
        """Download `package` (if not already here) and unpack it; (root directory, version)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with locked(self.dir / ".lock"):
            found = self.candidate(package, refresh=refresh)
            if found is None:
                raise ImageError(
                    f"no package {package} in Debian {self.arch.suite} for {self.arch.debian} "
                    f"(list them: APT_CONFIG={self.dir}/apt.conf apt-cache search {package})"
                )
            version = found[0]
            root = self.dir / "roots" / f"{package}_{version.replace(':', '%3a')}"
            if (root / ".complete").is_file():
                return root, version
            archives = self.dir / "archives"
            done = self._apt("apt-get", "download", "-q", f"{package}={version}", cwd=archives)
            # Architecture-independent packages (headers' `-common`) are NAME_VERSION_all.deb.
            debs = sorted(
                p
                for suffix in (self.arch.debian, "all")
                for p in archives.glob(f"{package}_*_{suffix}.deb")
            )
            deb = next((p for p in debs if _deb_version(p) == version), None)
            if done.returncode != 0 or deb is None:
                detail = (done.stderr.strip().splitlines() or ["no .deb"])[-1]
                raise ImageError(f"cannot download {package} {version}: {detail}")
            shutil.rmtree(root, ignore_errors=True)
            unpack_deb(deb, root)
            (root / ".complete").write_text(version + "\n")
            return root, version


def unpack_deb(deb: Path, root: Path) -> None:
    """`dpkg-deb -x`: the package's files under `root`, nothing installed."""
    if shutil.which("dpkg-deb") is None:
        raise ImageError("dpkg-deb not found: unpacking a Debian package needs dpkg")
    root.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["dpkg-deb", "-x", str(deb), str(root)], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise ImageError(f"dpkg-deb -x {deb} failed: {done.stderr.strip()}")


def depmod(root: Path, release: str) -> Path:
    """/lib/modules/RELEASE under `root`, with a modules.dep (`depmod -b`, as installation
    would). Packages of merged-/usr releases keep modules in usr/lib/modules."""
    lib = root / "lib" / "modules" / release
    usr = root / "usr" / "lib" / "modules" / release
    modules = lib if lib.is_dir() else usr
    if not modules.is_dir():
        raise ImageError(f"no modules for kernel {release} under {root}")
    if (modules / "modules.dep").is_file():
        return modules
    if modules == usr and not (root / "lib").exists():
        (root / "lib").symlink_to("usr/lib")  # depmod -b reads BASE/lib/modules
    binary = shutil.which("depmod") or next(
        (p for p in ("/sbin/depmod", "/usr/sbin/depmod") if os.access(p, os.X_OK)), None
    )
    if binary is None:
        raise ImageError("depmod not found: apt-get install -y --no-install-recommends kmod")
    done = subprocess.run(
        [binary, "-b", str(root), release], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0 or not (modules / "modules.dep").is_file():
        raise ImageError(f"depmod -b {root} {release} failed: {done.stderr.strip()}")
    return modules


def _fields(stanza: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in stanza.splitlines():
        match = re.match(r"([A-Za-z-]+): ?(.*)", line)
        if match and match.group(1) not in out:
            out[match.group(1)] = match.group(2)
    return out


def _deb_version(deb: Path) -> str:
    # apt names files NAME_VERSION_ARCH.deb with ':' in the version written as %3a.
    parts = deb.name.split("_")
    return parts[1].replace("%3a", ":") if len(parts) == 3 else ""
