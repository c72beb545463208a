"""`hack/stack down` leaves the host as `up` found it, with a pod (and a hostPort) running on the real node.

Compared before `up` and after `down`: mounts, network namespaces, links, routes, iptables/ip6tables rules,
nftables tables and listening sockets.

This test restarts the shared stack: run it alone, holding the live lock
(`flock /tmp/work/live.lock python -m pytest tests/integration/test_real_node_teardown.py`). It leaves the stack up.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from kubernetes import client, config

from localstack.config import StackConfig
from localstack.stack import load_info

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "hack" / "stack"


def _out(*argv: str) -> list[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    return sorted(line for line in result.stdout.splitlines() if line.strip())


def host_state() -> dict[str, list[str]]:
    """What the node may touch on the host: mounts, network namespaces, links, firewall rules, listening sockets."""

    def rules(tool: str) -> list[str]:
        # Comments carry timestamps and chain lines carry packet counters: neither is state.
        return [re.sub(r"\[\d+:\d+\]", "", ln) for ln in _out(f"{tool}-save") if not ln.startswith("#")]

    return {
        "mounts": _out("findmnt", "-rn", "-o", "TARGET"),
        "netns": _out("ip", "netns", "list"),
        "links": [ln.split()[0] for ln in _out("ip", "-br", "link")],
        "iptables": rules("iptables"),
        "ip6tables": rules("ip6tables"),
        "nft": _out("nft", "list", "tables"),
        "routes": _out("ip", "route"),
        # Sockets listening (TCP) or bound for DNS (UDP 53): the node's CoreDNS and the pods' registry must be gone too.
        "listening": [ln.split()[3] for ln in _out("ss", "-Hltn")] + [ln.split()[3] for ln in _out("ss", "-Hlun", "sport = :53")],
    }


def _stack(command: str) -> None:
    subprocess.run([str(STACK), command], check=True, timeout=900)


def test_down_leaves_nothing_behind():
    _stack("down")
    before = host_state()
    try:
        _stack("up")
        info = load_info(StackConfig.from_env())
        assert info.real_node, "the stack came up without its real node"
        core = client.CoreV1Api(config.new_client_from_config(config_file=info.kubeconfig))
        ns = "real-node-teardown"
        core.create_namespace({"metadata": {"name": ns}})
        core.create_namespaced_pod(
            ns,
            {
                "metadata": {"name": "pause"},
                "spec": {
                    "nodeSelector": {"mlops.ollama/node": "real"},
                    "tolerations": [{"key": "mlops.ollama/real-node", "operator": "Exists"}],
                    # A hostPort makes the portmap plugin add its CNI-* chains, which `down` must remove too.
                    "containers": [{"name": "pause", "image": info.images["pause"], "ports": [{"containerPort": 8080, "hostPort": 28080}]}],
                },
            },
        )
        core.create_namespaced_service(ns, {"metadata": {"name": "svc"}, "spec": {"selector": {"x": "y"}, "ports": [{"port": 80}]}})
        deadline = time.monotonic() + 120
        while core.read_namespaced_pod("pause", ns).status.phase != "Running":
            assert time.monotonic() < deadline, "the pause pod did not start on the real node"
            time.sleep(0.5)
        during = host_state()
        assert during["mounts"] != before["mounts"] and "mlops-br0" in during["links"]
        assert any("CNI-" in ln for ln in during["iptables"]) and any("KUBE-SERVICES" in ln for ln in during["iptables"])
        assert f"{info.real_node_ip}:53" in during["listening"] and info.pod_registry_host in during["listening"], during["listening"]
        _stack("down")
        after = host_state()
        for key in before:
            added, removed = sorted(set(after[key]) - set(before[key])), sorted(set(before[key]) - set(after[key]))
            # Only what is added counts: another process of the test run (a bare Ollama of an earlier test) may close
            # its own socket meanwhile.
            assert added == [], f"{key} left behind after down:\n+ {added}\n(gone meanwhile: {removed})"
    finally:
        _stack("up")
