"""k8s_pod_logs against the local stack's real kube-apiserver and the real Ollama log (kwok pods run Ollama's log)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any, Callable

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import K8sClient

from k8s_live import base, deploy, kubeconfig, namespace  # noqa: F401 - fixtures  # pylint: disable=unused-import

ModuleRunner = Callable[..., dict]


def test_logs_tail_timestamps_and_follow_until_inference(kubeconfig: str, namespace: str, stack: Any, run_module: ModuleRunner) -> None:
    deploy(namespace, replicas=2)
    startup = run_module("k8s_pod_logs", base(kubeconfig, namespace, deployment="ollama", until_regex="Listening on", until="all"))
    assert startup["matched"] is True and len(startup["matched_pods"]) == 2
    tail = run_module("k8s_pod_logs", base(kubeconfig, namespace, label_selectors=["app=ollama"], tail_lines=3, timestamps=True))
    assert all(p["line_count"] <= 3 for p in tail["pods"])
    assert all(line.split("] ", 1)[1][:4].isdigit() for line in tail["lines"])
    assert all(line.startswith("[pod/ollama-") for line in tail["lines"])

    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result: dict[str, Any] = {}

    def follow() -> None:
        from ansible_collections.mlops.ollama.plugins.module_utils._k8s_logs import collect_logs

        client = K8sClient(get_api_client(kubeconfig=kubeconfig).client.client)
        params = {
            "namespace": namespace,
            "deployment": "ollama",
            "follow": True,
            "since_time": since,
            "until_regex": r'POST\s+"/api/generate"',
            "until": "any",
            "timeout": 30,
            "timestamps": False,
        }
        result.update(collect_logs(client, params))

    th = threading.Thread(target=follow)
    th.start()
    time.sleep(0.5)  # let the follow streams open; the request below must show up on them
    body = json.dumps({"model": f"{stack.registry_host}/mlops/tiny-a:latest", "prompt": "hi", "stream": False, "options": {"num_predict": 2}})
    with urllib.request.urlopen(
        urllib.request.Request(f"{stack.ollama_url}/api/generate", body.encode(), {"Content-Type": "application/json"}), timeout=60
    ) as r:
        assert r.status == 200
    th.join(40)
    assert result["matched"] is True, result
    assert result["timed_out"] is False
    hit = next(p for p in result["pods"] if p["matched"])
    assert '"/api/generate"' in hit["match_line"]


def test_logs_follow_timeout_names_pods(kubeconfig: str, namespace: str, run_module: ModuleRunner) -> None:
    deploy(namespace)
    res = run_module(
        "k8s_pod_logs", base(kubeconfig, namespace, deployment="ollama", follow=True, until_regex="no such line xyz", timeout=1.5, since_seconds=1)
    )
    assert res["failed"] is True and res["timed_out"] is True
    assert "did not appear in any pod after 1.5 s" in res["msg"] and "ollama-" in res["msg"]
