"""k8s_events against the local stack's real kube-apiserver: the events a real scale up and down leaves."""

from __future__ import annotations

import time
from typing import Callable

from k8s_live import base, deploy, kubeconfig, namespace  # noqa: F401 - fixtures  # pylint: disable=unused-import

ModuleRunner = Callable[..., dict]


def test_events_sorted_filtered_and_expected(kubeconfig: str, namespace: str, run_module: ModuleRunner) -> None:
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    deploy(namespace)
    run_module("k8s_scale_watch", base(kubeconfig, namespace, name="ollama", replicas=2))
    run_module("k8s_scale_watch", base(kubeconfig, namespace, name="ollama", replicas=1))
    expect = ["Scheduled", "SuccessfulCreate", "ScalingReplicaSet", "Killing", "SuccessfulDelete"]
    res = run_module("k8s_events", base(kubeconfig, namespace, since_time=start, expect_reasons=expect, wait_timeout=30))
    assert res["missing_reasons"] == [] and res["found_reasons"] == expect
    times = [e["t"] for e in res["events"]]
    assert times == sorted(times)
    desc = run_module("k8s_events", base(kubeconfig, namespace, order="desc", involved_kind=["Pod"], reasons=["Killing"]))
    assert desc["events"] and {e["reason"] for e in desc["events"]} == {"Killing"} and {e["kind"] for e in desc["events"]} == {"Pod"}
    assert [e["t"] for e in desc["events"]] == sorted((e["t"] for e in desc["events"]), reverse=True)
    miss = run_module("k8s_events", base(kubeconfig, namespace, expect_reasons=["Killing", "BackOff"], wait_timeout=1))
    assert miss["failed"] is True and miss["missing_reasons"] == ["BackOff"] and "BackOff" in miss["msg"]
    soft = run_module("k8s_events", base(kubeconfig, namespace, expect_reasons=["BackOff"], fail_on_missing=False))
    assert soft.get("failed") is not True and soft["missing_reasons"] == ["BackOff"]
