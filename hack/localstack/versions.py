"""Pinned versions of every component of the local stack; the build cache is keyed by these."""

from __future__ import annotations

from .gobuild import GoBinary

KUBERNETES = "v1.36.3"
ETCD = "v3.6.16"
KWOK = "v0.8.0"
OLLAMA = "v0.11.4"


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
    "kwok": GoBinary("kwok", "sigs.k8s.io/kwok", KWOK, "sigs.k8s.io/kwok/cmd/kwok"),
    "kwokctl": GoBinary("kwokctl", "sigs.k8s.io/kwok", KWOK, "sigs.k8s.io/kwok/cmd/kwokctl"),
    "ollama": GoBinary(
        "ollama",
        "github.com/ollama/ollama",
        OLLAMA, "github.com/ollama/ollama",
        cgo=True,
        # Without it /api/version answers 0.0.0, which clients (and our health probe) report.
        ldflags=f"-X github.com/ollama/ollama/version.Version={OLLAMA[1:]}",
    ),
}
