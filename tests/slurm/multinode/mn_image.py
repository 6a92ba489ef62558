"""A small squashfs image for the container tests: busybox, this machine's Python and the project's virtualenv.

The rootfs holds only busybox (/bin), /etc/passwd, /etc/environment (the image's PATH: the virtualenv's bin
first -- inside a pyxis container the image decides PATH, not the job) and /etc/fstab, which enroot applies
when the container starts: read-only binds of the shared libraries (/usr/lib, /usr/lib64), the base Python
and the virtualenv. /usr/bin is not there, so Slurm's commands (scontrol ...) exist only outside the container.
The project's code is not in the image: it comes from NeMo-Run's code folder (--packager git).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

VENV = Path(os.path.realpath(sys.prefix))  # the virtualenv itself (.venv may be a symlink to it)


def image_path_entries() -> str:
    return f"{VENV}/bin:/bin"


def _binds() -> list[str]:
    paths = ["/usr/lib", "/usr/lib64", os.path.realpath(sys.base_prefix), str(VENV)]
    unique = []
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path) and path not in unique:
            unique.append(path)
    return unique


def build_image(out: Path) -> Path:
    """Write ``out`` (a .sqsh) with mksquashfs; returns it."""
    root = out.parent / "rootfs"
    busybox = shutil.which("busybox") or "/bin/busybox"
    for folder in ("bin", "etc", "tmp", "root", "proc", "sys", "dev", "usr", "var/tmp"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox, root / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox" and not (root / "bin" / applet).exists():
            (root / "bin" / applet).symlink_to("busybox")
    (root / "lib").symlink_to("usr/lib")
    (root / "lib64").symlink_to("usr/lib64")
    (root / "etc" / "environment").write_text(f"PATH={image_path_entries()}\n")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    fstab = "".join(f"{p} {p} none x-create=dir,bind,ro,nosuid,rbind\n" for p in _binds())
    (root / "etc" / "fstab").write_text(fstab)
    subprocess.run(["mksquashfs", str(root), str(out), "-noappend", "-quiet", "-comp", "gzip"], check=True,
                   capture_output=True, timeout=120)
    return out
