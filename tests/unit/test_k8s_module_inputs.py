"""The Kubernetes modules check their own parameters before they connect.

The kubeconfig points at a port nothing listens on: a bad parameter must be reported as such (naming it),
not as a connection error; with good parameters the same kubeconfig gives the connection error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: nowhere, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: nobody, user: {token: not-a-token}}]
contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody}}]
current-context: nowhere
"""

SCALE = {"name": "ollama", "namespace": "ml", "replicas": 2}
LOGS = {"namespace": "ml", "deployment": "ollama"}
EVENTS = {"namespace": "ml"}

BAD = [
    ("k8s_scale_watch", dict(SCALE, name="Ollama_1"), "name='Ollama_1' is not a valid Kubernetes name"),
    ("k8s_scale_watch", dict(SCALE, namespace="ml.prod"), "namespace='ml.prod' is not a valid Kubernetes name"),
    ("k8s_scale_watch", dict(SCALE, replicas=-1), "replicas=-1 is not a replica count: give a whole number from 0 to 1000"),
    ("k8s_scale_watch", dict(SCALE, replicas=100000), "replicas=100000 is not a replica count"),
    ("k8s_scale_watch", dict(SCALE, wait_timeout=0), "wait_timeout=0.0 is not a duration"),
    ("k8s_scale_watch", dict(SCALE, wait_timeout="nan"), "wait_timeout=nan is not a duration"),
    ("k8s_scale_watch", dict(SCALE, wait_timeout="inf"), "wait_timeout=inf is not a duration"),
    ("k8s_scale_watch", dict(SCALE, wait_timeout=-5), "wait_timeout=-5.0 is not a duration"),
    ("k8s_scale_watch", dict(SCALE, replicas_owner={"manager": " ", "operation": "Apply"}), "replicas_owner.manager is empty"),
    ("k8s_pod_logs", dict(LOGS, deployment="ollama/x"), "deployment='ollama/x' is not a valid Kubernetes name"),
    ("k8s_pod_logs", {"namespace": "ml", "name": "-pod"}, "name='-pod' is not a valid Kubernetes name"),
    ("k8s_pod_logs", dict(LOGS, container="Ollama"), "container='Ollama' is not a valid Kubernetes name"),
    ("k8s_pod_logs", {"namespace": "ml", "label_selectors": ["app in ollama"]}, "label_selectors='app in ollama' is not a label selector"),
    ("k8s_pod_logs", dict(LOGS, until_regex="(unclosed"), "until_regex is not a valid Python regular expression"),
    ("k8s_pod_logs", dict(LOGS, timeout="nan"), "timeout=nan is not a duration"),
    ("k8s_pod_logs", dict(LOGS, timeout=0), "timeout=0.0 is not a duration"),
    ("k8s_pod_logs", dict(LOGS, tail_lines=-1), "tail_lines must be 0 or more (got -1)"),
    ("k8s_pod_logs", dict(LOGS, since_time="yesterday"), "since_time must be an RFC 3339 time"),
    ("k8s_events", {"namespace": "ML"}, "namespace='ML' is not a valid Kubernetes name"),
    ("k8s_events", dict(EVENTS, involved_kind=["Pod,x"]), "involved_kind='Pod,x' is not a kind"),
    ("k8s_events", dict(EVENTS, involved_name=["a,involvedObject.kind=Node"]), "is not an object name"),
    ("k8s_events", dict(EVENTS, involved_name_regex="["), "involved_name_regex is not a valid Python regular expression"),
    ("k8s_events", dict(EVENTS, wait_timeout="inf"), "wait_timeout=inf is not a duration"),
    ("k8s_events", dict(EVENTS, wait_timeout=-1), "wait_timeout=-1.0 is not a duration"),
    ("k8s_events", dict(EVENTS, since_seconds=0), "since_seconds must be 1 or more"),
    ("k8s_events", dict(EVENTS, limit=-3), "limit must be 0 (no limit) or more"),
]


@pytest.fixture
def nowhere(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)


@pytest.mark.parametrize(("module", "args", "message"), BAD, ids=[f"{m}-{msg.split()[0]}" for m, _a, msg in BAD])
def test_a_bad_parameter_is_named_before_any_connection(run_module: Callable[..., dict], nowhere: str, module: str, args: dict[str, Any], message: str) -> None:
    res = run_module(module, dict(args, kubeconfig=nowhere))
    assert res.get("failed") is True, res
    assert message in res["msg"], res["msg"]
    assert not res.get("api_calls"), "nothing was requested"


@pytest.mark.parametrize(("module", "args"), [("k8s_scale_watch", SCALE), ("k8s_pod_logs", LOGS), ("k8s_events", EVENTS)])
def test_good_parameters_reach_the_unreachable_cluster(run_module: Callable[..., dict], nowhere: str, module: str, args: dict[str, Any]) -> None:
    res = run_module(module, dict(args, kubeconfig=nowhere))
    assert res.get("failed") is True
    assert "127.0.0.1" in res["msg"] or "onnect" in res["msg"], res["msg"]
