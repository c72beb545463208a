"""The container images of the local stack's real node, built here (never downloaded) and pushed to its registry.

- ``pause``: the pod sandbox, a static program of our own (``pause/main.go``: it
  blocks until SIGINT/SIGTERM and reaps orphans), alone in one layer, run as
  65535:65535 since it needs no privilege.
- ``ollama``: the stack's own Ollama build laid out like the official
  ``ollama/ollama`` image (its Dockerfile at the same tag): the binary at
  /usr/bin/ollama (/bin is a link to usr/bin), ``OLLAMA_HOST=0.0.0.0:11434``,
  PATH, port 11434, ``ENTRYPOINT ["/bin/ollama"]``, ``CMD ["serve"]``, no USER
  (root, HOME /root, mode 0700). The official image's NVIDIA variables are left
  out: this build is CPU only.

The Ollama base is a Debian bookworm root filesystem made by ``mmdebstrap
--variant=minbase`` from Debian's packages plus ca-certificates, rather than
a hand-picked set of libraries with busybox: the official image is a distro
base too, so the image behaves like it (dash as /bin/sh, glibc, libstdc++ and
libgcc_s that the cgo binary links, CA certificates, apt and /etc/passwd). It
costs about a minute once, then the built image is cached. Documentation,
man pages and locales are left out, and the runtime's own files (/dev nodes,
/etc/hostname, /etc/resolv.conf, which mmdebstrap copies from the host) too.

Images are cached as OCI layouts in ``<cache>/images/<name>-<tag>/`` with the
recipe they were built from; a changed recipe (source, binary, package list)
rebuilds. Pushing compares the registry's manifest digest first, so a second
``ensure_images`` sends nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from . import versions
from .config import StackConfig
from .gobuild import go_env, require_go
from .log import step
from .oci_layout import Member, dir_member, entry, file_member, write_image, write_layer
from .oci_push import PushResult, push_layout
from .registry import require_binary

PAUSE_VERSION = "1.0"
PAUSE_SOURCE = Path(__file__).with_name("pause")
OLLAMA_TAG = versions.OLLAMA.lstrip("v")
DEBIAN_SUITE = "bookworm"
DEBIAN_PACKAGES = ("ca-certificates",)
# As Debian's own slim images do: keep the copyright files, drop what only a person at a terminal reads.
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
# Files the container runtime provides; mmdebstrap's copies describe the build host.
RUNTIME_FILES = {"etc/hostname", "etc/resolv.conf", "etc/hosts"}
# Part of every recipe's inputs: bump it when the code that makes the images changes what they hold.
IMAGE_FORMAT = 2
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageRecipe:
    name: str
    repository: str
    tag: str
    # Everything the image is made from; the cached image is reused only while this is unchanged.
    inputs: dict
    build: Callable[[Path], None]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _go_version() -> str:
    return subprocess.run([require_go(), "env", "GOVERSION"], check=True, capture_output=True, text=True, env=go_env()).stdout.strip()


def _build_pause(layout: Path) -> None:
    env = go_env() | {"CGO_ENABLED": "0"}
    with tempfile.TemporaryDirectory(prefix="pause-") as work:
        binary = Path(work) / "pause"
        ldflags = f"-s -w -buildid= -X main.version={PAUSE_VERSION}"
        cmd = [require_go(), "build", "-trimpath", "-ldflags", ldflags, "-o", str(binary), "."]
        done = subprocess.run(cmd, cwd=PAUSE_SOURCE, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"error: building the pause program failed ({' '.join(cmd)} in {PAUSE_SOURCE}):\n{done.stderr}")
        layer = write_layer(layout, [file_member("pause", binary)])
    config = {"Entrypoint": ["/pause"], "User": "65535:65535", "WorkingDir": "/"}
    write_image(layout, PAUSE_VERSION, [layer], config, [f"pause {PAUSE_VERSION}: the local stack's sandbox program (Go, static)"])


def _rootfs_members(tar: tarfile.TarFile) -> Iterator[Member]:
    """mmdebstrap's tar as layer members: relative names, no device nodes or runtime files, hard links as copies."""
    for info in tar.getmembers():
        name = posixpath.normpath(info.name)
        if name == "." or info.ischr() or info.isblk() or info.isfifo() or name in RUNTIME_FILES:
            continue
        source = info
        if info.islnk():
            # Sorting may put a hard link before its target, which a tar cannot express: store a copy.
            source = tar.getmember(info.linkname)
        member = entry(name, tarfile.REGTYPE if info.islnk() else info.type, info.mode, size=source.size, linkname="" if info.islnk() else info.linkname)
        member.uid, member.gid = info.uid, info.gid
        yield member, ((lambda s=source: tar.extractfile(s)) if source.isreg() else None)


def _debian_rootfs(work: Path) -> Path:
    out = work / "rootfs.tar"
    cmd = [require_binary("mmdebstrap", "mmdebstrap"), "--quiet", "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}"]
    cmd += [f"--dpkgopt={option}" for option in DPKG_OPTIONS]
    cmd += [DEBIAN_SUITE, str(out)]
    step(f"  making a Debian {DEBIAN_SUITE} root filesystem with mmdebstrap (about a minute, Debian packages only)")
    # SOURCE_DATE_EPOCH: mmdebstrap then stamps every file with it, one less thing that differs between builds.
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=os.environ | {"SOURCE_DATE_EPOCH": "0"})
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed (it needs Debian's package mirrors and root or user namespaces):\n{done.stderr[-3000:]}")
    return out


def _build_ollama(binary: Path) -> Callable[[Path], None]:
    def build(layout: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="ollama-image-", dir=layout.parent) as work:
            rootfs = _debian_rootfs(Path(work))
            step("  writing the image layers")
            with tarfile.open(rootfs) as tar:
                base = write_layer(layout, _rootfs_members(tar))
        app = write_layer(layout, [dir_member("usr"), dir_member("usr/bin"), file_member("usr/bin/ollama", binary)])
        config = {
            "Env": [f"PATH={PATH}", "OLLAMA_HOST=0.0.0.0:11434"],
            "Entrypoint": ["/bin/ollama"],
            "Cmd": ["serve"],
            "WorkingDir": "/",
            "ExposedPorts": {"11434/tcp": {}},
        }
        history = [f"Debian {DEBIAN_SUITE} (mmdebstrap --variant=minbase, {', '.join(DEBIAN_PACKAGES)})", f"ollama {versions.OLLAMA} at /usr/bin/ollama"]
        write_image(layout, OLLAMA_TAG, [base, app], config, history)

    return build


def recipes(cfg: StackConfig) -> list[ImageRecipe]:
    pause_sources = {p.name: _sha256_file(p) for p in sorted(PAUSE_SOURCE.iterdir()) if p.suffix in (".go", ".mod")}
    ollama = cfg.bin_dir / f"ollama-{versions.OLLAMA}"
    if not ollama.exists():
        raise SystemExit(f"error: {ollama} is missing; the Ollama image is made from the stack's own build: run `hack/stack build` first")
    debian = {"suite": DEBIAN_SUITE, "packages": DEBIAN_PACKAGES, "dpkg": DPKG_OPTIONS, "dropped": sorted(RUNTIME_FILES)}
    return [
        ImageRecipe("pause", "mlops/pause", PAUSE_VERSION, {"sources": pause_sources, "go": _go_version()}, _build_pause),
        ImageRecipe("ollama", "mlops/ollama", OLLAMA_TAG, {"binary": _sha256_file(ollama), "base": debian}, _build_ollama(ollama)),
    ]


def cached_layout(cfg: StackConfig, recipe: ImageRecipe) -> Path:
    """The image's OCI layout in the cache, built first if it is missing or was made from other inputs."""
    final = cfg.cache_dir / "images" / f"{recipe.name}-{recipe.tag}"
    stamp = json.loads(json.dumps({"format": IMAGE_FORMAT, **recipe.inputs}))
    if (final / "index.json").exists() and (final / "inputs.json").exists() and json.loads((final / "inputs.json").read_text()) == stamp:
        return final
    partial = final.with_name(f".{final.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = time.monotonic()
    step(f"building the {recipe.name} image {recipe.tag} (cached in {final.parent})")
    recipe.build(partial)
    (partial / "inputs.json").write_text(json.dumps(stamp, sort_keys=True, indent=1))
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    size = sum(p.stat().st_size for p in (final / "blobs").rglob("*") if p.is_file())
    step(f"built the {recipe.name} image in {time.monotonic() - started:.0f}s ({size / 1e6:.1f} MB compressed)")
    return final


def ensure_image(cfg: StackConfig, registry_host: str, recipe: ImageRecipe) -> PushResult:
    result = push_layout(cached_layout(cfg, recipe), registry_host, recipe.repository)
    if result.up_to_date:
        step(f"image {result.reference} is already in the registry ({result.digest[:19]}); skipped")
    else:
        step(f"pushed {result.reference} ({result.digest[:19]}, {len(result.blobs_pushed)} new blobs)")
    return result


def ensure_images(cfg: StackConfig, registry_host: str) -> dict[str, str]:
    """Build (once) and push the stack's images; returns name -> reference containerd pulls over plain http."""
    return {recipe.name: ensure_image(cfg, registry_host, recipe).reference for recipe in recipes(cfg)}
