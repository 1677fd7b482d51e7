# SPDX-License-Identifier: MIT
"""`make guest-image`: the Linux guest that `make sim GUEST=linux` boots, in build/guest
(`make guest-deps`: the Debian packages it needs, ``--deps``).

- ``vmlinuz`` and the virtio modules of the kernel package that Debian's
  ``linux-image-amd64`` depends on, fetched with ``apt-get download`` and unpacked with
  ``dpkg-deb -x`` in a scratch folder (nothing goes into the host's /boot or /lib/modules);
- ``initramfs.cpio`` (newc, made with ``cpio``): static busybox, ``guest/init`` as /init, the
  modules in ``/lib/modules`` with their load order, and the receiver ``guest/rx.c`` built
  with ``gcc -static`` as /bin/rx;
- ``manifest.json``: kernel version, module order, and the fingerprint of every input.

A second call with the same inputs (the same kernel package, busybox, the files of guest/
and this script) only checks them and exits. Needs ``make guest-deps`` first (qemu-system-x86,
busybox-static, cpio; apt lists for the kernel package).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GUEST_SRC = REPO / "guest"
OUT = REPO / "build" / "guest"
BUSYBOX = Path("/bin/busybox")  # from busybox-static
#: Modules the image needs; their dependencies (each .ko's ``depends=``) come along.
WANTED_MODULES = ("virtio_pci", "virtio_net")
STAGE_DIRS = (
    "bin",
    "sbin",
    "usr/bin",
    "usr/sbin",
    "lib/modules",
    "proc",
    "sys",
    "dev",
    "run",
    "tmp",
)
#: Debian packages: QEMU, a static busybox for the initramfs, cpio to pack it.
DEB_PACKAGES = ("qemu-system-x86", "busybox-static", "cpio")
INSTALL_HINT = f"run `make guest-deps` (installs {' '.join(DEB_PACKAGES)})"


class ImageError(Exception):
    """Something the image needs is missing or failed; the message says what to do."""


def run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd)
    except FileNotFoundError:
        raise ImageError(f"{cmd[0]} not found: {INSTALL_HINT}") from None
    if p.returncode != 0:
        err = (p.stderr or p.stdout).strip().splitlines()
        raise ImageError(f"{' '.join(cmd)} failed: {err[-1] if err else f'exit {p.returncode}'}")
    return str(p.stdout)


def kernel_package() -> tuple[str, str]:
    """(package, version) of the kernel image linux-image-amd64 depends on, from apt."""
    out = run(["apt-cache", "depends", "linux-image-amd64"])
    pkgs = [
        line.split(":", 1)[1].strip()
        for line in out.splitlines()
        if line.strip().startswith("Depends:") and "linux-image-" in line
    ]
    if not pkgs:
        raise ImageError(f"apt knows no linux-image-amd64: {INSTALL_HINT}")
    pkg = pkgs[0]
    policy = run(["apt-cache", "policy", pkg])
    cand = [ln.split(":", 1)[1].strip() for ln in policy.splitlines() if "Candidate:" in ln]
    if not cand or cand[0] == "(none)":
        raise ImageError(f"apt has no candidate for {pkg}: {INSTALL_HINT}")
    return pkg, cand[0]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(pkg: str, version: str) -> dict[str, str]:
    """Everything the image is made from."""
    if not BUSYBOX.exists():
        raise ImageError(f"{BUSYBOX} missing: {INSTALL_HINT}")
    inputs = {"kernel": f"{pkg}={version}", "busybox": sha256(BUSYBOX)}
    for p in sorted(GUEST_SRC.iterdir()):
        if p.is_file():
            inputs[f"guest/{p.name}"] = sha256(p)
    inputs["tools/guest_image.py"] = sha256(Path(__file__).resolve())
    return inputs


def modinfo_depends(ko: Path) -> list[str]:
    """The ``depends=`` entry of a module's .modinfo section (comma separated names)."""
    data = ko.read_bytes()
    for field in data.split(b"\0"):
        if field.startswith(b"depends="):
            names = field[len(b"depends=") :].decode()
            return [n.replace("-", "_") for n in names.split(",") if n]
    return []


def module_order(moddir: Path, wanted: tuple[str, ...]) -> list[tuple[str, Path]]:
    """The wanted modules and everything they depend on, each after its dependencies."""
    found: dict[str, Path] = {}
    for ko in moddir.rglob("*.ko"):
        found[ko.stem.replace("-", "_")] = ko
    order: list[tuple[str, Path]] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ImageError(f"module dependency loop: {' -> '.join(chain + (name,))}")
        if name not in found:
            raise ImageError(f"module {name} not in the kernel package (needed by {chain})")
        state[name] = "visiting"
        for dep in modinfo_depends(found[name]):
            visit(dep, chain + (name,))
        state[name] = "done"
        order.append((name, found[name]))

    for name in wanted:
        visit(name, ())
    return order


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def build(out: Path, force: bool = False) -> dict[str, object]:
    pkg, version = kernel_package()
    inputs = fingerprint(pkg, version)
    manifest_path = out / "manifest.json"
    if not force and manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        files = [out / "vmlinuz", out / "initramfs.cpio"]
        if old.get("inputs") == inputs and all(f.exists() for f in files):
            print(f"splitrx guest-image: up to date ({shown(out)}, {pkg})")
            return dict(old)
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "cache"
    cache.mkdir(exist_ok=True)
    debs = sorted(cache.glob(f"{pkg}_*.deb"))
    deb = next(
        (d for d in debs if d.name.startswith(f"{pkg}_{version.replace(':', '%3a')}_")), None
    )
    if deb is None:
        for d in debs:
            d.unlink()
        print(f"splitrx guest-image: apt-get download {pkg} ({version})")
        run(["apt-get", "download", f"{pkg}={version}"], cwd=cache)
        got = sorted(cache.glob(f"{pkg}_*.deb"))
        if not got:
            raise ImageError(f"apt-get download {pkg} left no .deb in {cache}")
        deb = got[0]
    with tempfile.TemporaryDirectory(prefix="splitrx-kernel-", dir=out) as tmp:
        root = Path(tmp) / "pkg"
        print(f"splitrx guest-image: dpkg-deb -x {deb.name}")
        run(["dpkg-deb", "-x", str(deb), str(root)])
        kernels = sorted((root / "boot").glob("vmlinuz-*"))
        if not kernels:
            raise ImageError(f"{deb.name} has no boot/vmlinuz-*")
        release = kernels[0].name[len("vmlinuz-") :]
        shutil.copyfile(kernels[0], out / "vmlinuz")
        order = module_order(root / "lib" / "modules" / release, WANTED_MODULES)
        stage = Path(tmp) / "initramfs"
        for d in STAGE_DIRS:
            (stage / d).mkdir(parents=True, exist_ok=True)
        for name, ko in order:
            shutil.copyfile(ko, stage / "lib" / "modules" / f"{name}.ko")
        (stage / "lib" / "modules" / "order").write_text("".join(f"{n}\n" for n, _ in order))
        shutil.copyfile(BUSYBOX, stage / "bin" / "busybox")
        shutil.copyfile(GUEST_SRC / "init", stage / "init")
        rx = out / "rx"
        run(["gcc", "-static", "-O2", "-s", "-Wall", "-Wextra", "-Werror", "-o", str(rx),
             str(GUEST_SRC / "rx.c")])  # fmt: skip
        shutil.copyfile(rx, stage / "bin" / "rx")
        for f in ("init", "bin/busybox", "bin/rx"):
            os.chmod(stage / f, 0o755)
        # newc archive, every entry owned by root with one fixed time: the same inputs give
        # the same bytes
        entries = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p != stage)
        for p in stage.rglob("*"):
            os.utime(p, (0, 0), follow_symlinks=False)
        if shutil.which("cpio") is None:
            raise ImageError(f"cpio not found: {INSTALL_HINT}")
        cpio = subprocess.run(
            ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0", "--reproducible"],
            input="".join(f"{e}\n" for e in entries).encode(),
            cwd=stage,
            capture_output=True,
            check=False,
        )
        if cpio.returncode != 0:
            raise ImageError(f"cpio failed: {cpio.stderr.decode().strip()}")
        (out / "initramfs.cpio").write_bytes(cpio.stdout)
    manifest: dict[str, object] = {
        "kernel_package": pkg,
        "kernel_version": version,
        "kernel_release": release,
        "modules": [n for n, _ in order],
        "initramfs_bytes": (out / "initramfs.cpio").stat().st_size,
        "inputs": inputs,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(
        f"splitrx guest-image: {shown(out)}: kernel {release}, modules "
        f"{' '.join(n for n, _ in order)}, initramfs {manifest['initramfs_bytes']} B "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    return manifest


def missing_packages() -> list[str]:
    """The packages of ``DEB_PACKAGES`` dpkg does not have installed."""
    missing = []
    for pkg in DEB_PACKAGES:
        p = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True, check=False
        )
        if p.returncode != 0 or p.stdout.strip() != "install ok installed":
            missing.append(pkg)
    return missing


def install_deps() -> None:
    """Install what is missing (apt-get update first when apt cannot name the kernel
    package, or when an install fails on stale lists). Quick when all is there."""
    t0 = time.perf_counter()
    try:
        kernel_package()
        lists_ok = True
    except ImageError:
        lists_ok = False
    missing = missing_packages()
    if not missing and lists_ok:
        print(f"splitrx guest-deps: {' '.join(DEB_PACKAGES)} installed, apt lists current")
        return
    if os.geteuid() != 0:
        raise ImageError(f"installing {' '.join(missing) or 'apt lists'} needs root")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    updated = False
    if not lists_ok:
        print("splitrx guest-deps: apt-get update")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        updated = True
    if missing:
        cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
        print(f"splitrx guest-deps: {' '.join(cmd)}")
        if subprocess.run(cmd, check=False, env=env).returncode != 0 and not updated:
            subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
            subprocess.run(cmd, check=False, env=env)
    still = missing_packages()
    if still:
        raise ImageError(f"apt-get could not install {' '.join(still)}")
    kernel_package()  # apt must name the kernel package for make guest-image
    print(f"splitrx guest-deps: installed ({time.perf_counter() - t0:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make guest-image", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (build/guest)")
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    ap.add_argument("--deps", action="store_true", help="install the Debian packages instead")
    args = ap.parse_args(argv)
    try:
        if args.deps:
            install_deps()
        else:
            build(args.out.resolve(), args.force)
    except ImageError as exc:
        tool = "guest-deps" if args.deps else "guest-image"
        print(f"splitrx {tool}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
