"""The image a profile's target boots: `image: {builder: linux-busybox, dir: DIR}` and `arch:`.

`dir` (relative to the profile file, `~` expanded) is where `sis image build --out DIR` put
the image; without it, the arch's cache directory. An image there is rebuilt the way it was
first asked for (its manifest records `--arch`, `--kernel`, `--busybox`), so a custom kernel
stays the kernel, and up to date it costs only a check; Debian's package index is not fetched
again. An empty cache directory gets the default image, built on the spot; an empty `dir` is
an error that names the build command, since only its builder knows what it should hold.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sis.harness.images.arches import arch_spec
from sis.harness.images.cache import default_image_dir
from sis.harness.images.errors import ImageError
from sis.harness.images.linux_busybox import LinuxBusyboxImage, build_linux_busybox

__all__ = ["image_dir", "target_image"]


def image_dir(arch: str | None, directory: str | None, profile_path: Path | None) -> Path:
    """Where a profile's image lives (see the module docstring)."""
    if directory is None:
        return default_image_dir(arch_spec(arch).image_name)
    path = Path(directory).expanduser()
    if not path.is_absolute() and profile_path is not None:
        path = Path(os.path.normpath(profile_path.parent / path))
    return path


def target_image(
    arch: str | None,
    directory: str | None = None,
    profile_path: Path | None = None,
    *,
    fuzz_executor: bool = False,
) -> LinuxBusyboxImage:
    """The linux-busybox image for a profile of `arch`, built or brought up to date;
    `fuzz_executor` adds the fuzzer's executor to it (it stays in for later builds)."""
    spec = arch_spec(arch)
    out = image_dir(arch, directory, profile_path)
    request = _recorded_request(out / "manifest.json")
    if request is None:
        if directory is not None:
            raise ImageError(
                f"no linux-busybox image in {out}: build it with "
                f"`sis image build linux-busybox --arch {spec.debian} --out {out}`"
            )
        return build_linux_busybox(out, arch=spec.debian, fuzz_executor=fuzz_executor)
    if request.get("arch") != spec.debian:
        raise ImageError(
            f"{out} holds a {request.get('arch')} image, but the profile's arch is "
            f"{arch}: build one with `sis image build linux-busybox --arch {spec.debian}`"
        )
    return build_linux_busybox(
        out,
        arch=spec.debian,
        kernel=request.get("kernel"),
        busybox=request.get("busybox"),
        fuzz_executor=fuzz_executor or bool(request.get("fuzz_executor")),
        crash_module=bool(request.get("crash_module")),
    )


def _recorded_request(manifest: Path) -> dict[str, str | bool | None] | None:
    try:
        request = json.loads(manifest.read_text())["inputs"]["request"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return request if isinstance(request, dict) else None
