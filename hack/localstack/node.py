"""A real node beside the kwok nodes: containerd + runc, kubelet and kube-proxy, on a bridge of the stack's own.

Addresses (all the stack's own, removed by `down`):
- the bridge ``mlops-br0`` carries the node IP (also the pods' gateway) of the pod subnet;
- the Service CIDR (read from the API server) is routed to that bridge, so nothing sent to a ClusterIP
  (or to a kwok pod's made-up IP, which kwok takes from the same range) ever leaves through another interface.
Pods get no default route: they can answer the host and each other, nothing else. Their DNS server is the node's
CoreDNS on the node IP, which answers ``cluster.local`` from the API server and refuses every other name.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

from . import nodecleanup, nodeconfig, versions
from .config import StackConfig
from .log import step
from .procs import ManagedProcess, wait_for

NODE_NAME = "real-node-0"
BRIDGE = "mlops-br0"
POD_SUBNET = os.environ.get("MLOPS_STACK_POD_SUBNET", "10.217.0.0/24")
CGROUP_ROOT = "/mlops-stack"
# What a pod selects to land on the real node (it must also tolerate TAINT).
NODE_SELECTOR = {"mlops.ollama/node": "real"}
NODE_LABELS = ",".join(f"{k}={v}" for k, v in {**NODE_SELECTOR, "mlops.ollama/local-stack": "true"}.items())
TAINT = "mlops.ollama/real-node"
RUNC = "/usr/sbin/runc"
CNI_BIN = Path("/usr/lib/cni")
CLUSTER_DOMAIN = "cluster.local"
DNS_READY_PORT = 8181
METRICS_PORT = 4443
METRICS_API = "v1beta1.metrics.k8s.io"
PACKAGES = "runc containernetworking-plugins iptables"


class NodeError(SystemExit):
    """A component of the real node did not start; the message names it and its log."""


class RealNode:
    def __init__(self, config: StackConfig, binaries: dict[str, Path], pki: Path, service_cidr: str) -> None:
        self.config = config
        self.binaries = binaries
        self.pki = pki
        self.service_cidr = service_cidr
        net = ipaddress.ip_network(POD_SUBNET)
        self.node_ip = str(net.network_address + 1)
        # A second address of the bridge for the pods' registry blob server: Ollama uses a redirect's Location only
        # when it points at another host than the registry's.
        self.blobs_ip = str(net.network_address + 2)
        self.range_start = str(net.network_address + 10)
        self.base = config.state_dir / "node"
        self.logs = config.state_dir / "logs"
        self.containerd_root = self.base / "containerd" / "root"
        self.containerd_state = self.base / "containerd" / "state"
        self.socket = self.base / "containerd" / "containerd.sock"
        self.kubelet_root = self.base / "kubelet"
        self.nft_baseline = self.base / "nft-tables-before.json"

    # -- processes --------------------------------------------------------
    def _proc(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> ManagedProcess:
        return ManagedProcess(name, argv, self.config.run_dir / f"{name}.pid", self.logs / f"{name}.log", env=env)

    def containerd(self) -> ManagedProcess:
        # containerd finds its shim on PATH: a directory holding only our shim comes first.
        path = f"{self.base / 'bin'}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        return self._proc("containerd", [str(self.binaries["containerd"]), "--config", str(self.base / "containerd.toml")], env={"PATH": path})

    def kubelet(self) -> ManagedProcess:
        argv = [
            str(self.binaries["kubelet"]),
            f"--config={self.base / 'kubelet.json'}",
            f"--kubeconfig={self.base / 'kubeconfig.yaml'}",
            f"--root-dir={self.kubelet_root}",
            f"--cert-dir={self.base / 'kubelet-pki'}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={self.node_ip}",
            f"--node-labels={NODE_LABELS}",
        ]
        return self._proc("kubelet", argv)

    def kube_proxy(self) -> ManagedProcess:
        return self._proc("kube-proxy", [str(self.binaries["kube-proxy"]), f"--config={self.base / 'kube-proxy.json'}"])

    def coredns(self) -> ManagedProcess:
        return self._proc("coredns", [str(self.binaries["coredns"]), "-conf", str(self.base / "Corefile")])

    def metrics_server(self) -> ManagedProcess:
        kubeconfig = str(self.base / "kubeconfig.yaml")
        argv = [
            str(self.binaries["metrics-server"]),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--bind-address={self.node_ip}",
            f"--secure-port={METRICS_PORT}",
            f"--cert-dir={self.base / 'metrics-server'}",
            # Only the real node has a kubelet to scrape; the kwok nodes have none.
            "--node-selector=" + ",".join(f"{k}={v}" for k, v in NODE_SELECTOR.items()),
            "--kubelet-preferred-address-types=InternalIP",
            # The kubelet's serving certificate is self-signed (no serving CA in this stack).
            "--kubelet-insecure-tls",
            "--metric-resolution=15s",
        ]
        return self._proc("metrics-server", argv)

    def processes(self) -> list[ManagedProcess]:
        """In the order they are stopped."""
        return [self.metrics_server(), self.kube_proxy(), self.kubelet(), self.coredns(), self.containerd()]

    def running(self) -> bool:
        return all(p.running() for p in self.processes())

    # -- up ---------------------------------------------------------------
    def preflight(self) -> None:
        needed = [Path(RUNC), CNI_BIN / "bridge", CNI_BIN / "host-local", CNI_BIN / "portmap", CNI_BIN / "loopback"]
        missing = [str(p) for p in needed if not p.exists()] + [c for c in ("ip", "iptables") if not shutil.which(c)]
        if os.geteuid() != 0:
            raise NodeError("error: the real node needs root (containerd, kubelet and kube-proxy manage mounts, cgroups and iptables)")
        if missing:
            raise NodeError(f"error: the real node needs {', '.join(missing)}: run hack/bootstrap (Debian packages: {PACKAGES})")

    def write_files(self, pause_image: str) -> None:
        b = self.base
        for d in (b / "bin", b / "cni" / "net.d", self.containerd_root, self.containerd_state, self.kubelet_root, b / "pod-logs"):
            d.mkdir(parents=True, exist_ok=True)
        shim = b / "bin" / "containerd-shim-runc-v2"
        shim.unlink(missing_ok=True)
        shim.symlink_to(self.binaries["containerd-shim-runc-v2"])
        hosts = b / "containerd" / "certs.d" / self.config.registry_host / "hosts.toml"
        hosts.parent.mkdir(parents=True, exist_ok=True)
        hosts.write_text(nodeconfig.REGISTRY_HOSTS.format(host=self.config.registry_host))
        (b / "containerd.toml").write_text(
            nodeconfig.CONTAINERD.format(
                root=self.containerd_root,
                state=self.containerd_state,
                socket=self.socket,
                runc=RUNC,
                cni_bin=CNI_BIN,
                cni_conf=b / "cni" / "net.d",
                pause=pause_image,
                certs_d=hosts.parent.parent,
            )
        )
        (b / "cni" / "net.d" / "10-mlops-stack.conflist").write_text(
            nodeconfig.cni_conflist(BRIDGE, POD_SUBNET, self.node_ip, self.range_start, b / "cni" / "ipam", self.service_cidr)
        )
        ca = self.pki / "ca.crt"
        # The kubelet and kube-proxy authenticate with kwok's admin client cert (system:masters). Acceptable for a
        # throwaway test stack only; a real cluster gives each node its own system:node:<name> identity.
        (b / "kubeconfig.yaml").write_text(
            nodeconfig.kubeconfig(f"https://127.0.0.1:{self.config.apiserver_port}", ca, self.pki / "admin.crt", self.pki / "admin.key", "kwok-admin")
        )
        (b / "kubelet.json").write_text(
            nodeconfig.kubelet_config(
                socket=self.socket,
                node_ip=self.node_ip,
                pod_logs=b / "pod-logs",
                ca=ca,
                cgroup_root=CGROUP_ROOT,
                cluster_dns=self.node_ip,
                cluster_domain=CLUSTER_DOMAIN,
            )
        )
        (b / "Corefile").write_text(
            nodeconfig.corefile(node_ip=self.node_ip, domain=CLUSTER_DOMAIN, kubeconfig=b / "kubeconfig.yaml", ready_port=DNS_READY_PORT)
        )
        (b / "kube-proxy.json").write_text(
            nodeconfig.kube_proxy_config(kubeconfig=b / "kubeconfig.yaml", node_name=NODE_NAME, node_ip=self.node_ip, pod_subnet=POD_SUBNET)
        )

    def ensure_bridge(self) -> None:
        prefix = ipaddress.ip_network(POD_SUBNET).prefixlen
        if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
            subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "replace", f"{self.node_ip}/{prefix}", "dev", BRIDGE], check=True)
        subprocess.run(["ip", "addr", "replace", f"{self.blobs_ip}/{prefix}", "dev", BRIDGE], check=True)
        subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
        subprocess.run(["ip", "route", "replace", self.service_cidr, "dev", BRIDGE, "src", self.node_ip], check=True)

    def ensure_cgroup_root(self) -> None:
        # cgroup v1: the kubelet expects its cgroup root to exist in every hierarchy it uses.
        for hierarchy in nodecleanup.CGROUP_FS.iterdir():
            if hierarchy.is_dir() and not hierarchy.is_symlink() and (hierarchy / "cgroup.procs").exists():
                (hierarchy / CGROUP_ROOT.strip("/")).mkdir(exist_ok=True)

    def _start(self, proc: ManagedProcess, ready, what: str, timeout: float) -> None:  # type: ignore[no-untyped-def]
        proc.start()
        try:
            wait_for(lambda: ready() or not proc.running(), timeout, what)
        except TimeoutError:
            pass
        if not proc.running() or not ready():
            raise NodeError(
                f"error: the real node's {proc.name} did not become ready ({what}) within {timeout:.0f}s; "
                f"read {proc.log_file}. Last lines:\n{proc.log_tail(15)}"
            )

    def start(self, pause_image: str, node_ready) -> None:  # type: ignore[no-untyped-def]
        self.preflight()
        self.base.mkdir(parents=True, exist_ok=True)
        nodecleanup.save_nft_baseline(self.nft_baseline)
        self.write_files(pause_image)
        self.ensure_bridge()
        self.ensure_cgroup_root()
        step(
            f"starting the real node {NODE_NAME}: containerd {versions.CONTAINERD}, CoreDNS {versions.COREDNS}, "
            f"kubelet and kube-proxy {versions.KUBERNETES}, metrics-server {versions.METRICS_SERVER} (node IP {self.node_ip} on {BRIDGE})"
        )
        self._start(self.containerd(), self.socket.exists, f"its socket {self.socket}", 30)
        # Before the kubelet, so the first pod already finds its DNS server.
        dns_ready = f"http://{self.node_ip}:{DNS_READY_PORT}/ready"
        self._start(self.coredns(), lambda: _http_ok(dns_ready), dns_ready, 30)
        self._start(self.kubelet(), node_ready, f"node {NODE_NAME} Ready in the API", 90)
        healthz = f"http://{self.node_ip}:10256/healthz"
        self._start(self.kube_proxy(), lambda: _http_ok(healthz), f"{healthz}", 30)
        livez = f"https://{self.node_ip}:{METRICS_PORT}/livez"
        self._start(self.metrics_server(), lambda: _http_ok(livez, verify=False), livez, 60)

    def register_metrics_api(self, api_client) -> None:  # type: ignore[no-untyped-def]
        """The metrics API, served by the node's metrics-server: a Service without selector whose EndpointSlice is the
        node IP, and the APIService naming it (the API server routes to the endpoint; the serving cert is self-signed)."""
        from kubernetes import client

        from .cluster import create_unless_present

        name, ns = "metrics-server", "kube-system"
        objects = [
            (client.CoreV1Api(api_client).create_namespaced_service, (ns,), {
                "metadata": {"name": name, "namespace": ns},
                "spec": {"ports": [{"name": "https", "port": 443, "targetPort": METRICS_PORT}]},
            }),
            (client.DiscoveryV1Api(api_client).create_namespaced_endpoint_slice, (ns,), {
                "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [self.node_ip], "conditions": {"ready": True}}],
                "ports": [{"name": "https", "port": METRICS_PORT, "protocol": "TCP"}],
            }),
            (client.ApiregistrationV1Api(api_client).create_api_service, (), {
                "metadata": {"name": METRICS_API},
                "spec": {
                    "group": "metrics.k8s.io",
                    "version": "v1beta1",
                    "service": {"name": name, "namespace": ns, "port": 443},
                    "insecureSkipTLSVerify": True,
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                },
            }),
        ]
        for create, args, body in objects:
            create_unless_present(create, *args, body)

    # -- down -------------------------------------------------------------
    def stop(self) -> None:
        metrics, proxy, kubelet, coredns, containerd = self.processes()
        metrics.stop()
        proxy.stop()
        if self.binaries["kube-proxy"].exists():
            # kube-proxy's own cleanup of every rule and chain it made (iptables, ip6tables, nftables).
            subprocess.run([str(self.binaries["kube-proxy"]), "--cleanup"], capture_output=True, text=True)
        kubelet.stop()
        coredns.stop()
        nodecleanup.kill_cgroup_tree(CGROUP_ROOT)
        containerd.stop()
        nodecleanup.kill_pids(nodecleanup.shim_pids(self.containerd_state, self.socket), "containerd shim")
        if self.base.exists():
            nodecleanup.unmount_all(self.base)
        nodecleanup.delete_bridge(BRIDGE)
        for tool in ("iptables", "ip6tables"):
            nodecleanup.remove_own_chains(tool)
        baseline = nodecleanup.load_nft_baseline(self.nft_baseline)
        if baseline is not None:
            nodecleanup.remove_new_nft_tables(baseline)
            self.nft_baseline.unlink()
        # Pod state is gone with its processes; a next `up` starts the node from scratch.
        for d in (self.containerd_state, self.base / "cni" / "ipam", self.kubelet_root / "pods"):
            shutil.rmtree(d, ignore_errors=True)
        self.socket.unlink(missing_ok=True)


def _http_ok(url: str, verify: bool = True) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


def node_ready(api_client) -> bool:  # type: ignore[no-untyped-def]
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        node = client.CoreV1Api(api_client).read_node(NODE_NAME)
    except ApiException:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))
