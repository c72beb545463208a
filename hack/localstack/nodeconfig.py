"""Configuration files of the real node: containerd, CNI, kubelet, kube-proxy, registry hosts.

Everything lives under the stack's state dir and names only the stack's own
addresses: the node's bridge, the pod subnet and the Service CIDR.
"""

from __future__ import annotations

import json
from pathlib import Path

CONTAINERD = """\
version = 3
root = "{root}"
state = "{state}"
# Plugins that need kernel features or host dirs this stack does not own.
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.blockfile", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{socket}"

[debug]
  level = "info"

[plugins.'io.containerd.internal.v1.opt']
  path = "{root}/opt"

[plugins.'io.containerd.cri.v1.runtime']
  # No CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj, every sandbox would fail to start.
  restrict_oom_score_adj = true
  # Network namespaces are bind-mounted under the state dir, so `down` finds (and unmounts) exactly ours.
  netns_mounts_under_state_dir = true
  enable_cdi = false

[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = "runc"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = "{runc}"
  # No systemd as PID 1: cgroupfs, as the kubelet.
  SystemdCgroup = false

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["{cni_bin}"]
  conf_dir = "{cni_conf}"

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "{pause}"

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = "{certs_d}"

[plugins.'io.containerd.grpc.v1.cri']
  # exec/attach/port-forward streams: the kubelet proxies them, nobody else needs to reach this.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""

# The stack's registry speaks plain http; containerd resolves and pulls from it directly.
REGISTRY_HOSTS = """\
server = "http://{host}"

[host."http://{host}"]
  capabilities = ["pull", "resolve"]
"""


def cni_conflist(bridge: str, subnet: str, gateway: str, range_start: str, ipam_dir: Path, service_cidr: str) -> str:
    # No ipMasq and no default route in pods: pods reach the bridge's subnet and, through the gateway where
    # kube-proxy's rules are, the Service range; nothing beyond this machine.
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": "mlops-stack",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": bridge,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(ipam_dir),
                        "ranges": [[{"subnet": subnet, "gateway": gateway, "rangeStart": range_start}]],
                        "routes": [{"dst": service_cidr}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        },
        indent=2,
    )


def corefile(*, node_ip: str, domain: str, kubeconfig: Path, ready_port: int) -> str:
    """CoreDNS on the node IP: the cluster's names from the API server; every other name is refused (no forward)."""
    return f"""{domain}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {node_ip}
    ready {node_ip}:{ready_port}
    errors
    cache 5
    kubernetes {domain} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} stack
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
}}
.:53 {{
    bind {node_ip}
    errors
}}
"""


def kubelet_config(*, socket: Path, node_ip: str, pod_logs: Path, ca: Path, cgroup_root: str, cluster_dns: str, cluster_domain: str) -> str:
    return json.dumps(
        {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # cgroups are v1 on this machine and PID 1 is not systemd.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            # Pods' cgroups under a root of the stack's own, so `down` removes exactly them.
            "cgroupRoot": cgroup_root,
            "containerRuntimeEndpoint": f"unix://{socket}",
            "address": node_ip,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": node_ip,
            "healthzPort": 10248,
            # The API server presents the kwok admin client cert (kube-apiserver --kubelet-client-certificate);
            # the kubelet checks it against the cluster CA and asks the API server (webhook) what it may do.
            # The serving cert is self-signed by the kubelet: this API server has no --kubelet-certificate-authority.
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}, "x509": {"clientCAFile": str(ca)}},
            "authorization": {"mode": "Webhook"},
            "podLogsDir": str(pod_logs),
            # The node's CoreDNS answers the cluster's names and nothing else; no host resolv.conf is passed on, so a
            # pod's lookups never reach the machine's own resolvers.
            "clusterDNS": [cluster_dns],
            "clusterDomain": cluster_domain,
            "resolvConf": "",
            # The hard RLIMIT_NOFILE here is 20000; the kubelet raises its own limit to this value.
            "maxOpenFiles": 20000,
            "failSwapOn": False,
            # A test machine's disk is often fuller than the default 10-15% thresholds allow.
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "registerWithTaints": [{"key": "mlops.ollama/real-node", "value": "true", "effect": "NoSchedule"}],
            "serializeImagePulls": False,
        },
        indent=2,
    )


def kube_proxy_config(*, kubeconfig: Path, node_name: str, node_ip: str, pod_subnet: str) -> str:
    return json.dumps(
        {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "mode": "iptables",
            "hostnameOverride": node_name,
            "bindAddress": node_ip,
            "healthzBindAddress": f"{node_ip}:10256",
            "metricsBindAddress": f"{node_ip}:10249",
            # Traffic from outside the pod subnet to a ClusterIP is masqueraded to the bridge address, so pods answer
            # the host through the bridge.
            "clusterCIDR": pod_subnet,
            "detectLocalMode": "ClusterCIDR",
            # Pod-to-Service traffic too: the answer of a pod on the same bridge then comes back through the host's
            # conntrack, whatever the host's bridge-nf-call-iptables says (a bridged answer would skip the un-DNAT).
            "masqueradeAll": True,
            # NodePorts only on the node's own address; no route_localnet, no rules for other host addresses.
            "nodePortAddresses": [f"{node_ip}/32"],
            "iptables": {"localhostNodePorts": False},
            # Leave the host's conntrack sysctls alone, and no oom_score_adj (no CAP_SYS_RESOURCE here).
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            "oomScoreAdj": 0,
        },
        indent=2,
    )


def kubeconfig(server: str, ca: Path, cert: Path, key: Path, user: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "stack", "cluster": {"server": server, "certificate-authority": str(ca)}}],
            "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
            "contexts": [{"name": "stack", "context": {"cluster": "stack", "user": user}}],
            "current-context": "stack",
        },
        indent=2,
    )
