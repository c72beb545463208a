"""Build Go binaries from published modules, by name and version, into a cache.

Some upstream modules (k8s.io/kubernetes, go.etcd.io/etcd/server/v3) carry
``replace`` directives pointing into their own repository (staging/, ../api).
``go install module@version`` refuses such modules, so we generate a tiny
wrapper module that requires the upstream module and maps each local replace
to the published module of the matching version. Nothing is downloaded but Go
modules from the module proxy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .log import step

_REPLACE_LINE = re.compile(r"^\s*(?:replace\s+)?(\S+)(?:\s+(v\S+))?\s+=>\s+(\S+)(?:\s+(v\S+))?\s*$")


@dataclass(frozen=True)
class GoBinary:
    """One binary: the package to build and the module/version it comes from."""

    name: str
    module: str
    version: str
    package: str
    cgo: bool = False
    # Maps a module that upstream replaces with a local directory to the
    # published version to use instead; None means "drop that replace".
    published_version: Callable[[str], str | None] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    ldflags: str = ""
    # A main package of our own that imports the module (CoreDNS's way to choose its plugins); built in place of
    # ``package``, and part of the cache key.
    main_source: Path | None = None

    @property
    def cache_name(self) -> str:
        if self.main_source is None:
            return f"{self.name}-{self.version}"
        return f"{self.name}-{self.version}-{hashlib.sha256(self.main_source.read_bytes()).hexdigest()[:12]}"


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    # A dependency's "toolchain" line must never trigger a toolchain download.
    env.setdefault("GOTOOLCHAIN", "local")
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def require_go() -> str:
    go = shutil.which("go")
    if not go:
        raise SystemExit(
            "error: the 'go' command was not found on PATH. The local stack builds Kubernetes, etcd, kwok and Ollama "
            "from Go modules: install Go 1.26+ (Debian: apt-get install golang, or the official toolchain) and retry."
        )
    return go


def _download_gomod(module: str, version: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [require_go(), "mod", "download", "-json", f"{module}@{version}"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    info = json.loads(out.stdout)
    if info.get("Error"):
        raise RuntimeError(f"go mod download {module}@{version}: {info['Error']}")
    return Path(info["GoMod"]).read_text()


def wrapper_gomod(binary: GoBinary, upstream_gomod: str) -> str:
    """Return the go.mod of a module that builds ``binary`` without upstream's local replaces."""
    go_line = next((ln for ln in upstream_gomod.splitlines() if ln.startswith("go ")), "go 1.26")
    replaces: list[str] = []
    in_block = False
    for raw in upstream_gomod.splitlines():
        line = raw.split("//", 1)[0].rstrip()
        if line.startswith("replace ("):
            in_block = True
            continue
        if in_block and line.strip() == ")":
            in_block = False
            continue
        if not (in_block or line.startswith("replace ")):
            continue
        match = _REPLACE_LINE.match(line)
        if not match:
            continue
        old, old_ver, new, new_ver = match.groups()
        if new.startswith(("./", "../")):
            mapped = binary.published_version(old) if binary.published_version else None
            if mapped:
                replaces.append(f"\t{old} => {old} {mapped}")
        else:
            left = f"{old} {old_ver}" if old_ver else old
            right = f"{new} {new_ver}" if new_ver else new
            replaces.append(f"\t{left} => {right}")
    body = [f"module localstack.invalid/build/{binary.name}", "", go_line, "", f"require {binary.module} {binary.version}", ""]
    if replaces:
        body += ["replace (", *replaces, ")", ""]
    return "\n".join(body)


def build(binary: GoBinary, bin_dir: Path) -> Path:
    """Build ``binary`` into ``bin_dir`` unless a binary of that version is already there."""
    target = bin_dir / binary.cache_name
    if target.exists():
        return target
    bin_dir.mkdir(parents=True, exist_ok=True)
    env = go_env()
    env["CGO_ENABLED"] = "1" if binary.cgo else "0"
    env.update(binary.extra_env)
    step(f"building {binary.name} {binary.version} from {binary.package} (first run only; cached in {bin_dir})")
    with tempfile.TemporaryDirectory(prefix=f"build-{binary.name}-") as work:
        workdir = Path(work)
        (workdir / "go.mod").write_text(wrapper_gomod(binary, _download_gomod(binary.module, binary.version, env)))
        package = binary.package
        if binary.main_source is not None:
            shutil.copy(binary.main_source, workdir / "main.go")
            package = "."
        partial = bin_dir / f".{binary.cache_name}.partial"
        # -v names each package as it is compiled: the stream is the progress a person watches.
        cmd = [require_go(), "build", "-v", "-mod=mod", "-trimpath", "-ldflags", binary.ldflags, "-o", str(partial), package]
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        tail: deque[str] = deque(maxlen=60)
        compiled, last_report = 0, time.monotonic()
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            compiled += not line.startswith(("go: ", "#"))
            if time.monotonic() - last_report >= 15:
                step(f"  {binary.name}: {compiled} packages compiled, now {line.strip()[:100]}")
                last_report = time.monotonic()
        if proc.wait() != 0:
            output = "\n".join(tail)
            raise SystemExit(f"error: building {binary.name} failed ({' '.join(cmd)} in a wrapper module):\n{output}")
        partial.rename(target)
    step(f"built {target}")
    return target
