"""A real Kubernetes control plane with kwok nodes, started by kwokctl's binary runtime.

kube-apiserver, kube-controller-manager, kube-scheduler and etcd are real; kwok
plays the kubelets (see kwok/stages.yaml) and serves the Ollama pods' logs from
the CRI log file the stack's real Ollama writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from .config import StackConfig
from .log import step
from .procs import pid_alive, require_free_port

KWOK_DIR = Path(__file__).resolve().parent / "kwok"
NODE_LABEL = "mlops.ollama/local-stack"

CLUSTER_LOGS = """\
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: ollama
spec:
  # Every container named "ollama", in every namespace, shows the real server's log.
  logs:
    - containers: [ollama]
      logsFile: {cri_log}
      follow: true
"""


# The API server's audit log: one line per request by a ServiceAccount (who, verb, resource, response code), so a
# test can show the automation's Role grants exactly what the site uses. Metadata level keeps lines small; nothing
# else is logged, and the file rotates at 20 MB keeping 2 old ones.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
"""

APISERVER_AUDIT = """\
---
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
componentsPatches:
  - name: kube-apiserver
    extraArgs:
      - {{key: audit-policy-file, value: "{policy}"}}
      - {{key: audit-log-path, value: "{log}"}}
      - {{key: audit-log-maxsize, value: "20"}}
      - {{key: audit-log-maxbackup, value: "2"}}
      # The real node's kubelet asks for a client cert (x509 against the cluster CA) before logs, exec and
      # port-forward; kwok's own server ignores it. InternalIP first: the real node's Hostname address is its node
      # name, which nothing resolves (and a lookup would leave the machine).
      - {{key: kubelet-client-certificate, value: "{pki}/admin.crt"}}
      - {{key: kubelet-client-key, value: "{pki}/admin.key"}}
      - {{key: kubelet-preferred-address-types, value: "InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP"}}
      # Aggregated APIs (the real node's metrics-server) are reached at their EndpointSlice's address, not through
      # the Service's ClusterIP: the API server runs on the host, outside kube-proxy's pod-to-Service path.
      - {{key: enable-aggregator-routing, value: "true"}}
      # The front proxy's identity headers, from the proxy client cert kwokctl already gives the API server
      # (kwok-admin): the aggregated API then sees the real caller, as on a kubeadm or k3s cluster.
      - {{key: requestheader-client-ca-file, value: "{pki}/ca.crt"}}
      - {{key: requestheader-allowed-names, value: "kwok-admin"}}
      - {{key: requestheader-username-headers, value: "X-Remote-User"}}
      - {{key: requestheader-group-headers, value: "X-Remote-Group"}}
      - {{key: requestheader-extra-headers-prefix, value: "X-Remote-Extra-"}}
  - name: kwok-controller
    extraArgs:
      # kwokctl starts kwok with --manage-all-nodes; it must leave the real node (and its pods) to the real kubelet.
      # The kwok nodes carry this annotation (ensure_nodes).
      - {{key: manage-all-nodes, value: "false"}}
      - {{key: manage-nodes-with-annotation-selector, value: "kwok.x-k8s.io/node=fake"}}
      # Loopback reaches kwok's kubelet server and gives kwok nodes a non-empty InternalIP, which the API server
      # now prefers.
      - {{key: node-ip, value: "127.0.0.1"}}
"""


class KwokCluster:
    def __init__(self, config: StackConfig, binaries: dict[str, Path]) -> None:
        self.config = config
        self.binaries = binaries
        self.cri_log = config.state_dir / "logs" / "ollama.cri.log"
        self.audit_policy = config.state_dir / "audit-policy.yaml"
        self.audit_log = config.state_dir / "logs" / "kube-apiserver-audit.log"
        self.pki = config.kwok_workdir / "clusters" / config.cluster_name / "pki"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KWOK_WORKDIR"] = str(self.config.kwok_workdir)
        return env

    def _kwokctl(self, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.binaries["kwokctl"]), "--name", self.config.cluster_name, *args]
        return subprocess.run(cmd, env=self._env(), check=check, text=True, capture_output=capture)

    def exists(self) -> bool:
        return (self.config.kwok_workdir / "clusters" / self.config.cluster_name / "kwok.yaml").exists()

    def running(self) -> bool:
        if not self.exists():
            return False
        pids = list((self.config.kwok_workdir / "clusters" / self.config.cluster_name / "pids").glob("*.pid"))

        alive = []
        for pid_file in pids:
            try:
                alive.append(pid_alive(int(pid_file.read_text().strip())))
            except (OSError, ValueError):
                alive.append(False)
        return bool(alive) and all(alive)

    def write_config(self) -> Path:
        self.cri_log.parent.mkdir(parents=True, exist_ok=True)
        self.cri_log.touch()
        self.audit_policy.write_text(AUDIT_POLICY)
        path = self.config.state_dir / "kwok-resources.yaml"
        path.write_text(
            (KWOK_DIR / "stages.yaml").read_text()
            + CLUSTER_LOGS.format(cri_log=self.cri_log)
            + APISERVER_AUDIT.format(policy=self.audit_policy, log=self.audit_log, pki=self.pki)
        )
        return path

    def create(self) -> None:

        if self.running():
            step(f"kwok cluster {self.config.cluster_name} is already running")
            return
        if self.exists():
            step(f"removing the stopped kwok cluster {self.config.cluster_name} before creating it again")
            self.delete()
        require_free_port(self.config.apiserver_port, "kube-apiserver", "MLOPS_STACK_APISERVER_PORT")
        resources = self.write_config()
        step(f"creating kwok cluster {self.config.cluster_name} (kube-apiserver on 127.0.0.1:{self.config.apiserver_port})")
        b = self.binaries
        result = self._kwokctl(
            "--config",
            str(resources),
            "create",
            "cluster",
            "--runtime",
            "binary",
            "--kube-apiserver-binary",
            str(b["kube-apiserver"]),
            "--kube-controller-manager-binary",
            str(b["kube-controller-manager"]),
            "--kube-scheduler-binary",
            str(b["kube-scheduler"]),
            "--etcd-binary",
            str(b["etcd"]),
            "--kwok-controller-binary",
            str(b["kwok"]),
            "--kube-apiserver-port",
            str(self.config.apiserver_port),
            "--kubeconfig",
            str(self.config.kubeconfig),
            "--wait",
            "2m",
            check=False,
            capture=True,
        )
        if result.returncode != 0:
            raise SystemExit(f"error: kwokctl create cluster failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

    def delete(self) -> None:
        if not self.exists():
            return
        step(f"deleting kwok cluster {self.config.cluster_name} (kwokctl stops its processes by their pid files)")
        self._kwokctl("delete", "cluster", "--kubeconfig", str(self.config.kubeconfig), check=False, capture=True)

    def api_client(self):  # type: ignore[no-untyped-def]
        from kubernetes import client, config

        return client.ApiClient(config.new_client_from_config(config_file=str(self.config.kubeconfig)).configuration)

    def ensure_storage(self, volumes: int = 12, size: str = "100Gi") -> None:
        """A default StorageClass named like k3s's (``local-path``) with pre-created PVs, so PVCs bind as on k3s.

        No provisioner runs in the local stack; the PV controller binds claims to
        these static volumes, which is what lets pods with a PVC be scheduled, and
        the real node mounts them as hostPath directories of the stack's state.
        """
        from kubernetes import client

        api = self.api_client()
        storage = client.StorageV1Api(api)
        core = client.CoreV1Api(api)
        objects = [
            (
                storage.create_storage_class,
                {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClass",
                    "metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                    "provisioner": "rancher.io/local-path",
                    "reclaimPolicy": "Delete",
                    "volumeBindingMode": "Immediate",
                },
            )
        ]
        for i in range(volumes):
            path = self.config.state_dir / "volumes" / f"pv-{i}"
            objects.append(
                (
                    lambda body, path=path: _create_volume(core, body, path),
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolume",
                        "metadata": {"name": f"local-stack-pv-{i}", "labels": {NODE_LABEL: "true"}},
                        "spec": {
                            "capacity": {"storage": size},
                            "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
                            "persistentVolumeReclaimPolicy": "Retain",
                            "storageClassName": "local-path",
                            "hostPath": {"path": str(path)},
                        },
                    },
                )
            )
        for create, body in objects:
            create_unless_present(create, body)

    def ensure_nodes(self, count: int, cpu: str = "4", memory: str = "16Gi", pods: str = "110") -> list[str]:
        """Create ``count`` fake nodes (idempotent) and wait until kwok reports them Ready."""
        from kubernetes import client

        core = client.CoreV1Api(self.api_client())
        names = [f"kwok-node-{i}" for i in range(count)]
        for name in names:
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    # kwok only manages nodes carrying this annotation.
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                        NODE_LABEL: "true",
                    },
                },
                # No status.addresses: kwok fills in its own reachable address, which `kubectl logs` needs.
                "status": {
                    "capacity": {"cpu": cpu, "memory": memory, "pods": pods},
                    "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                },
            }
            create_unless_present(core.create_node, body)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = [
                n.metadata.name
                for n in core.list_node(label_selector=f"{NODE_LABEL}=true").items
                if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
            ]
            if set(names) <= set(ready):
                return names
            time.sleep(0.5)
        raise SystemExit(f"error: kwok did not mark nodes {names} Ready within 60s; see {self.config.kwok_workdir}/clusters/{self.config.cluster_name}/logs/")


def _create_volume(core, body: dict, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Create the PV; a new one starts empty, as a freshly provisioned claim does (the cluster, and every claim that
    held this directory, went with the last ``down``)."""
    core.create_persistent_volume(body)
    if path.exists():
        shutil.rmtree(path)
    # World-writable, as k3s's local-path provisioner makes its directories: the kubelet does not apply fsGroup to a
    # hostPath volume, and the runtime would otherwise create it root-owned, 0755.
    path.mkdir(parents=True)
    path.chmod(0o777)


def create_unless_present(create, *args) -> None:  # type: ignore[no-untyped-def]
    """``create(*args)`` with the Kubernetes client; an object that already exists (409) is left as it is."""
    from kubernetes.client.exceptions import ApiException

    try:
        create(*args)
    except ApiException as exc:
        if exc.status != 409:
            raise

