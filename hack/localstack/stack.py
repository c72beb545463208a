"""The local stack as a whole: build, up, down, status.

Components (all on 127.0.0.1, all started and stopped by pid):
- Kubernetes: real etcd, kube-apiserver, kube-controller-manager, kube-scheduler
  with kwok as the nodes' kubelets (kwokctl binary runtime).
- Ollama: the real server, its output mirrored into the CRI log kwok serves as
  the Ollama pods' logs.
- A private model registry (docker-registry + nginx for blob redirects) with two
  tiny generated models pushed to it, and the images the stack builds (pause, Ollama).
- A real node (kwok cluster only): containerd + runc, kubelet and kube-proxy on a
  bridge of the stack's own; see node.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import versions
from .cluster import KwokCluster
from .config import StackConfig
from .gobuild import build, require_go
from .log import step
from .node import NODE_NAME, POD_SUBNET, RealNode, node_ready
from .ollama import OllamaServer
from .procs import free_port, require_free_port
from .registry import BLOBS_HOST, Registry

# The tiny models every test and demo relies on: name in the registry -> generator seed.
TINY_MODELS = {"mlops/tiny-a:latest": 1, "mlops/tiny-b:latest": 2}


@dataclass
class StackInfo:
    """What tests, molecule and the demo need to reach the stack (written to stack.json)."""

    cluster: str
    kubeconfig: str
    apiserver: str
    ollama_url: str
    ollama_binary: str
    ollama_models_dir: str
    ollama_cri_log: str
    registry_host: str
    registry_root: str
    blobs_port: int
    models: list[str]
    run_dir: str
    nodes: list[str]
    # The API server's audit log of requests by ServiceAccounts (kwok cluster only; empty otherwise).
    audit_log: str = ""
    # The real node (kwok cluster only): its name, address, the pod subnet and Service CIDR it serves.
    real_node: str = ""
    real_node_ip: str = ""
    pod_subnet: str = ""
    service_cidr: str = ""
    # Images built by the stack and pushed to its registry: name -> reference containerd pulls.
    images: dict[str, str] = field(default_factory=dict)
    # The registry as pods on the real node reach it (same storage, on the node IP), and its blob server's access log.
    pod_registry_host: str = ""
    pod_blobs_access_log: str = ""


def _registry_digest(registry_host: str, short: str) -> str | None:
    import httpx

    repo, _, tag = short.partition(":")
    reply = httpx.head(
        f"http://{registry_host}/v2/{repo}/manifests/{tag}", headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}, timeout=10
    )
    return reply.headers.get("Docker-Content-Digest", "").removeprefix("sha256:") or None if reply.status_code == 200 else None


def _ollama_has(url: str, name: str, digest: str | None) -> bool:
    import httpx

    tags = httpx.get(f"{url}/api/tags", timeout=10).json().get("models") or []
    return digest is not None and any(m.get("name") == name and m.get("digest") == digest for m in tags)


def _pull(url: str, name: str) -> None:
    import httpx

    with httpx.stream("POST", f"{url}/api/pull", json={"model": name, "insecure": True}, timeout=httpx.Timeout(120, connect=5)) as response:
        last = [line for line in response.iter_lines() if line][-1:]
    if last != ['{"status":"success"}']:
        raise SystemExit(f"error: pulling {name} back from the registry failed: {last}")


class Stack:
    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig.from_env()
        self.cluster_kind = os.environ.get("STACK_CLUSTER", "kwok")
        if self.cluster_kind not in ("kwok", "kind"):
            raise SystemExit(f"error: STACK_CLUSTER={self.cluster_kind!r} is not supported; use 'kwok' (default) or 'kind'")

    # -- components -------------------------------------------------------
    def binary_paths(self) -> dict[str, Path]:
        return {name: self.config.bin_dir / b.cache_name for name, b in versions.GO_BINARIES.items()}

    def ollama(self) -> OllamaServer:
        return OllamaServer(
            self.binary_paths()["ollama"],
            self.config.ollama_port,
            self.config.ollama_models_dir,
            self.config.run_dir,
            cri_log=self.config.state_dir / "logs" / "ollama.cri.log",
        )

    def registry(self) -> Registry:
        return Registry(self.config.registry_root, self.config.run_dir, self.config.registry_port, self.config.blobs_port)

    def cluster(self) -> KwokCluster:
        return KwokCluster(self.config, self.binary_paths())

    def pod_registry(self, node: RealNode) -> Registry:
        """The same registry storage served on the real node's bridge, for pods (loopback is their own)."""
        return Registry(
            self.config.registry_root,
            self.config.run_dir,
            self.config.registry_port,
            self.config.blobs_port,
            name="registry-pods",
            host=node.node_ip,
            blobs_host=node.blobs_ip,
            log_blob_requests=True,
        )

    def real_node(self, service_cidr: str = "") -> RealNode:
        return RealNode(self.config, self.binary_paths(), self.cluster().pki, service_cidr or self.service_cidr())

    def service_cidr(self) -> str:
        """The API server's Service range (its default ServiceCIDR object), which kube-proxy serves and the bridge routes."""
        try:
            api = self.cluster().api_client()
            reply = api.call_api(
                "/apis/networking.k8s.io/v1/servicecidrs/kubernetes", "GET", response_type="object", auth_settings=["BearerToken"], _return_http_data_only=True
            )
            return str(reply["spec"]["cidrs"][0])
        except Exception:  # noqa: BLE001 - the API is down (e.g. during `down`): the route goes with the bridge anyway
            return "10.0.0.0/24"

    # -- commands ---------------------------------------------------------
    def build(self) -> dict[str, Path]:
        missing = [b for name, b in versions.GO_BINARIES.items() if not (self.config.bin_dir / b.cache_name).exists()]
        if missing:
            require_go()
            for binary in missing:
                build(binary, self.config.bin_dir)
        else:
            step(f"all binaries cached in {self.config.bin_dir}; nothing to build")
        return self.binary_paths()

    def up(self) -> StackInfo:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.build()
        registry, ollama = self.registry(), self.ollama()
        # Only processes this stack started (by their pid files) count as running: something
        # else answering on our ports is a conflict to report, not a server to reuse.
        if not (registry.registry.running() and registry.healthy()):
            registry.stop()
            require_free_port(self.config.registry_port, "model registry", "MLOPS_STACK_REGISTRY_PORT")
            require_free_port(self.config.blobs_port, "registry blob server", "MLOPS_STACK_BLOBS_PORT", host=BLOBS_HOST)
            step(f"starting the model registry on {registry.host} (blobs via nginx on :{self.config.blobs_port})")
            registry.start()
        if not (ollama.process.running() and ollama.healthy()):
            ollama.stop()
            require_free_port(self.config.ollama_port, "Ollama server", "MLOPS_STACK_OLLAMA_PORT")
            step(f"starting Ollama {versions.OLLAMA} on {ollama.url} (models in {self.config.ollama_models_dir})")
            ollama.start()
        models = self.seed_models(ollama.url, registry.host)
        images = self.ensure_images(registry.host)
        nodes = self.start_cluster()
        real = self.start_real_node(images) if self.cluster_kind == "kwok" and images else None
        pod_registry = self.start_pod_registry(real) if real else None
        if real:
            nodes.append(NODE_NAME)
        info = StackInfo(
            cluster=self.cluster_kind,
            kubeconfig=str(self.config.kubeconfig),
            apiserver=f"https://127.0.0.1:{self.config.apiserver_port}",
            ollama_url=ollama.url,
            ollama_binary=str(self.binary_paths()["ollama"]),
            ollama_models_dir=str(self.config.ollama_models_dir),
            ollama_cri_log=str(ollama.cri_log),
            registry_host=registry.host,
            registry_root=str(self.config.registry_root),
            blobs_port=self.config.blobs_port,
            models=models,
            run_dir=str(self.config.run_dir),
            nodes=nodes,
            audit_log=str(self.cluster().audit_log) if self.cluster_kind == "kwok" else "",
            real_node=NODE_NAME if real else "",
            real_node_ip=real.node_ip if real else "",
            pod_subnet=POD_SUBNET if real else "",
            service_cidr=real.service_cidr if real else "",
            images=images,
            pod_registry_host=pod_registry.host if pod_registry else "",
            pod_blobs_access_log=str(pod_registry.blobs_access_log) if pod_registry else "",
        )
        self.config.status_file.write_text(json.dumps(asdict(info), indent=2) + "\n")
        step(f"stack is up; details in {self.config.status_file}; `hack/stack env` prints the variables to use it")
        return info

    def seed_models(self, ollama_url: str, registry_host: str) -> list[str]:
        """Make sure the registry holds the tiny models and the stack's Ollama has them."""
        from . import tinymodels

        names = []
        for short, seed in TINY_MODELS.items():
            name = f"{registry_host}/{short}"
            names.append(name)
            repo, _, tag = short.partition(":")
            manifest = self.config.registry_root / "docker/registry/v2/repositories" / repo / "_manifests/tags" / tag
            if manifest.exists() and _ollama_has(ollama_url, name, _registry_digest(registry_host, short)):
                continue
            gguf = self.config.models_cache_dir / f"tiny-seed{seed}.gguf"
            if not gguf.exists():
                step(f"generating tiny GGUF model (seed {seed}) at {gguf}")
                gguf.parent.mkdir(parents=True, exist_ok=True)
                tinymodels.write_gguf(gguf, seed=seed, name=f"tiny-{seed}")
            step(f"creating {name} in Ollama and pushing it to the registry")
            tinymodels.create_model(ollama_url, name, gguf)
            tinymodels.push_model(ollama_url, name, insecure=True)
            # A created model's manifest differs from the one the registry serves; pulling it
            # back makes the stack's Ollama hold exactly what a pull elsewhere gets (same digest).
            _pull(ollama_url, name)
        return names

    def ensure_images(self, registry_host: str) -> dict[str, str]:
        try:
            from . import images
        except ImportError:
            step("warning: hack/localstack/images.py is missing: no images, so no real node")
            return {}
        return images.ensure_images(self.config, registry_host)

    def start_pod_registry(self, node: RealNode) -> Registry:
        registry = self.pod_registry(node)
        if not (registry.registry.running() and registry.healthy()):
            registry.stop()
            step(f"starting the pods' registry on {registry.host} (blobs via nginx on {node.blobs_ip}:{self.config.blobs_port})")
            registry.start()
        return registry

    def start_real_node(self, images: dict[str, str]) -> RealNode:
        node = self.real_node()
        api = self.cluster().api_client()
        if node.running() and node_ready(api):
            step(f"real node {NODE_NAME} is already running")
            return node
        # A half-started node (a process died) is cleaned up completely before starting again.
        node.stop()
        node.start(images["pause"], lambda: node_ready(api))
        node.register_metrics_api(api)
        return node

    def start_cluster(self) -> list[str]:
        if self.cluster_kind == "kind":
            return self._start_kind()
        cluster = self.cluster()
        cluster.create()
        nodes = cluster.ensure_nodes(self.config.node_count)
        cluster.ensure_storage()
        return nodes

    def _start_kind(self) -> list[str]:
        kind = shutil.which("kind")
        engine = shutil.which("docker") or shutil.which("podman")
        if not kind or not engine:
            raise SystemExit("error: STACK_CLUSTER=kind needs the 'kind' command and a container engine (docker or podman); neither is optional")
        name = self.config.cluster_name
        existing = subprocess.run([kind, "get", "clusters"], capture_output=True, text=True, check=True).stdout.split()
        if name not in existing:
            step(f"creating kind cluster {name}")
            subprocess.run([kind, "create", "cluster", "--name", name, "--kubeconfig", str(self.config.kubeconfig), "--wait", "120s"], check=True)
        return [f"{name}-control-plane"]

    def down(self, purge: bool = False) -> None:
        if self.cluster_kind == "kind":
            if shutil.which("kind"):
                subprocess.run(["kind", "delete", "cluster", "--name", self.config.cluster_name], check=False)
        else:
            # The node first: its kubelet and kube-proxy talk to the API server until they stop.
            node = self.real_node(service_cidr="-")
            self.pod_registry(node).stop()
            node.stop()
            self.cluster().delete()
        for port_file in sorted((self.config.state_dir / "extra").glob("*/port")):
            self.extra_ollama(port_file.parent.name).stop()
        self.ollama().stop()
        self.registry().stop()
        self.config.status_file.unlink(missing_ok=True)
        if purge and self.config.state_dir.exists():
            step(f"removing {self.config.state_dir}")
            shutil.rmtree(self.config.state_dir)
        step("stack is down")

    def status(self) -> dict[str, str]:
        registry, ollama = self.registry(), self.ollama()
        report = {
            "binaries": "cached" if all(p.exists() for p in self.binary_paths().values()) else f"not all built (cache: {self.config.bin_dir})",
            "registry": f"up at http://{registry.host} (pid {registry.registry.pid()})" if registry.registry.running() and registry.healthy() else "down",
            "ollama": f"up at {ollama.url} (pid {ollama.process.pid()})" if ollama.process.running() and ollama.healthy() else "down",
        }
        if self.cluster_kind == "kwok":
            report["kubernetes"] = f"up at https://127.0.0.1:{self.config.apiserver_port}" if self.cluster().running() else "down"
            node = self.real_node(service_cidr="-")
            running = [p.name for p in node.processes() if p.running()]
            report["real node"] = (
                f"{NODE_NAME} up at {node.node_ip} (containerd, CoreDNS, kubelet, kube-proxy, metrics-server)"
                if len(running) == len(node.processes())
                else f"down (running: {', '.join(running) or 'none'})"
            )
        report["kubeconfig"] = str(self.config.kubeconfig)
        return report

    def extra_ollama(self, name: str, port: int | None = None) -> OllamaServer:
        """Another real Ollama with an empty models directory of its own, for scenarios that pull, prune and delete."""
        if not name.replace("-", "").isalnum():
            raise SystemExit(f"error: extra Ollama name {name!r} must be letters, digits and '-'")
        extra = self.config.state_dir / "extra" / name
        port_file = extra / "port"
        if port is None:
            port = int(port_file.read_text()) if port_file.exists() else free_port()
        extra.mkdir(parents=True, exist_ok=True)
        port_file.write_text(f"{port}\n")
        return OllamaServer(self.binary_paths()["ollama"], port, extra / "models", extra, name=f"ollama-{name}")

    def env_lines(self) -> list[str]:
        return [
            f"export KUBECONFIG={self.config.kubeconfig}",
            f"export K8S_AUTH_KUBECONFIG={self.config.kubeconfig}",
            f"export MLOPS_OLLAMA_URL={self.config.ollama_url}",
            f"export MLOPS_REGISTRY={self.config.registry_host}",
            f"export MLOPS_REAL_NODE={NODE_NAME}",
        ] + self._real_node_env_lines()

    def _real_node_env_lines(self) -> list[str]:
        """What the local inventory needs to run the ``ml`` namespace on the real node (known once the stack is up)."""
        if not self.config.status_file.exists():
            return []
        info = load_info(self.config)
        if not (info.real_node and info.images.get("ollama") and info.pod_registry_host):
            return []
        return [f"export MLOPS_OLLAMA_IMAGE={info.images['ollama']}", f"export MLOPS_POD_REGISTRY={info.pod_registry_host}"]


def load_info(config: StackConfig | None = None) -> StackInfo:
    config = config or StackConfig.from_env()
    if not config.status_file.exists():
        raise RuntimeError(f"the local stack is not up ({config.status_file} is missing): run `hack/stack up` first")
    return StackInfo(**json.loads(config.status_file.read_text()))
