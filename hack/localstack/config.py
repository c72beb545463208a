"""Where the local stack keeps its builds and state, and which loopback ports it uses.

Every value can be overridden by an environment variable so two checkouts (or a
user's own Ollama on 11434) never collide.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _port(env: str, default: int) -> int:
    raw = os.environ.get(env, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"error: {env}={raw!r} is not a port number; set it to an integer between 1024 and 65535") from None
    if not 1024 <= port <= 65535:
        raise SystemExit(f"error: {env}={port} is out of range; set it to an integer between 1024 and 65535")
    return port


@dataclass(frozen=True)
class StackConfig:
    cache_dir: Path
    state_dir: Path
    cluster_name: str
    apiserver_port: int
    ollama_port: int
    registry_port: int
    blobs_port: int
    node_count: int

    @classmethod
    def from_env(cls) -> "StackConfig":
        cache = Path(os.environ.get("MLOPS_STACK_CACHE", Path.home() / ".cache" / "mlops-ollama")).expanduser()
        state = Path(os.environ.get("MLOPS_STACK_STATE", REPO_ROOT / ".stack")).expanduser()
        return cls(
            cache_dir=cache,
            state_dir=state,
            cluster_name=os.environ.get("MLOPS_STACK_CLUSTER_NAME", "mlops-ollama"),
            apiserver_port=_port("MLOPS_STACK_APISERVER_PORT", 26443),
            ollama_port=_port("MLOPS_STACK_OLLAMA_PORT", 21434),
            registry_port=_port("MLOPS_STACK_REGISTRY_PORT", 25000),
            blobs_port=_port("MLOPS_STACK_BLOBS_PORT", 25001),
            node_count=int(os.environ.get("MLOPS_STACK_NODES", "3")),
        )

    @property
    def bin_dir(self) -> Path:
        return self.cache_dir / "bin"

    @property
    def models_cache_dir(self) -> Path:
        return self.cache_dir / "models"

    @property
    def kwok_workdir(self) -> Path:
        return self.state_dir / "kwok"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig.yaml"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def ollama_models_dir(self) -> Path:
        return self.state_dir / "ollama" / "models"

    @property
    def registry_root(self) -> Path:
        return self.state_dir / "registry"

    @property
    def status_file(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def ollama_url(self) -> str:
        return f"http://127.0.0.1:{self.ollama_port}"

    @property
    def registry_host(self) -> str:
        return f"127.0.0.1:{self.registry_port}"
