"""Pinned versions of every component of the local stack; the build cache is keyed by these."""

from __future__ import annotations

from pathlib import Path

from .gobuild import GoBinary

KUBERNETES = "v1.36.3"
ETCD = "v3.6.16"
KWOK = "v0.8.0"
OLLAMA = "v0.11.4"
CONTAINERD = "v2.2.9"
COREDNS = "v1.15.0"
METRICS_SERVER = "v0.8.0"


def _kubernetes_staging(module: str) -> str | None:
    # k8s.io/kubernetes v1.X.Y publishes its staging repos as k8s.io/<repo> v0.X.Y.
    return "v0" + KUBERNETES[2:] if module.startswith("k8s.io/") else None


def _etcd_sibling(module: str) -> str | None:
    # etcd's sibling modules (api/v3, client/v3, pkg/v3, ...) share the server's version.
    return ETCD if module.startswith("go.etcd.io/etcd/") else None


GO_BINARIES = {
    "etcd": GoBinary("etcd", "go.etcd.io/etcd/server/v3", ETCD, "go.etcd.io/etcd/server/v3", published_version=_etcd_sibling),
    **{
        name: GoBinary(name, "k8s.io/kubernetes", KUBERNETES, f"k8s.io/kubernetes/cmd/{name}", published_version=_kubernetes_staging)
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    },
    # The real node's kubelet and kube-proxy: without gitVersion they report v0.0.0, which the API server's
    # version skew checks and `kubectl get nodes` show.
    **{
        name: GoBinary(
            name,
            "k8s.io/kubernetes",
            KUBERNETES,
            f"k8s.io/kubernetes/cmd/{name}",
            published_version=_kubernetes_staging,
            ldflags=f"-X k8s.io/component-base/version.gitVersion={KUBERNETES}",
        )
        for name in ("kubelet", "kube-proxy")
    },
    # containerd without cgo: the btrfs snapshotter (the only cgo part) drops out by its own build constraint;
    # devmapper, zfs and tracing are left out to keep the cold build short (the node uses overlayfs).
    "containerd": GoBinary(
        "containerd",
        "github.com/containerd/containerd/v2",
        CONTAINERD,
        "github.com/containerd/containerd/v2/cmd/containerd",
        extra_env={"GOFLAGS": "-buildvcs=false -tags=urfave_cli_no_docs,no_devmapper,no_zfs,no_tracing"},
        # The CRI reports this version as the node's containerRuntimeVersion (containerd://2.2.9).
        ldflags=f"-X github.com/containerd/containerd/v2/version.Version={CONTAINERD[1:]}",
    ),
    # The shim as upstream builds it: static, no gRPC (ttrpc only).
    "containerd-shim-runc-v2": GoBinary(
        "containerd-shim-runc-v2",
        "github.com/containerd/containerd/v2",
        CONTAINERD,
        "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
        extra_env={"GOFLAGS": "-buildvcs=false -tags=urfave_cli_no_docs,no_grpc"},
        ldflags=f"-X github.com/containerd/containerd/v2/version.Version={CONTAINERD[1:]}",
    ),
    # The real node's cluster DNS: CoreDNS with the few plugins its Corefile uses (coredns/main.go).
    "coredns": GoBinary(
        "coredns",
        "github.com/coredns/coredns",
        COREDNS,
        "github.com/coredns/coredns",
        main_source=Path(__file__).with_name("coredns") / "main.go",
        ldflags=f"-X github.com/coredns/coredns/coremain.GitCommit={COREDNS}",
    ),
    # The real node's resource metrics (kubectl top, the HPA), as an aggregated API on the node IP.
    "metrics-server": GoBinary(
        "metrics-server",
        "sigs.k8s.io/metrics-server",
        METRICS_SERVER,
        "sigs.k8s.io/metrics-server/cmd/metrics-server",
        # Its Makefile stamps client-go's version package, which /version and the User-Agent report.
        ldflags=f"-X k8s.io/client-go/pkg/version.gitVersion={METRICS_SERVER}",
    ),
    "kwok": GoBinary("kwok", "sigs.k8s.io/kwok", KWOK, "sigs.k8s.io/kwok/cmd/kwok"),
    "kwokctl": GoBinary("kwokctl", "sigs.k8s.io/kwok", KWOK, "sigs.k8s.io/kwok/cmd/kwokctl"),
    "ollama": GoBinary(
        "ollama",
        "github.com/ollama/ollama",
        OLLAMA,
        "github.com/ollama/ollama",
        cgo=True,
        # Without it /api/version answers 0.0.0, which clients (and our health probe) report.
        ldflags=f"-X github.com/ollama/ollama/version.Version={OLLAMA[1:]}",
    ),
}
