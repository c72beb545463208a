"""The scale_validate role through ansible-playbook: bad input, check mode, and a restore that cannot restore everything.

Bad input fails before the cluster is read, so those cases need no server. The others use the local stack's real
kube-apiserver (kwok pods) in a namespace of their own; the replica-restore fault is real: the test deletes the
Deployment while the drill runs, so restoring its replica count fails, and the HPA and the report must still be restored
and written.
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "scale_validate"

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: ollama}
spec:
  replicas: 1
  selector: {matchLabels: {app: ollama}}
  template:
    metadata: {labels: {app: ollama}}
    spec:
      terminationGracePeriodSeconds: 30
      containers: [{name: ollama, image: ollama/ollama, resources: {requests: {cpu: 100m, memory: 128Mi}}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: ollama}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ollama}
  minReplicas: 1
  maxReplicas: 3
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}}]
"""


def play(tmp_path: Path, extra_vars: dict[str, Any], *, check: bool = False, kubeconfig: str | None = None, timeout: float = 600) -> dict[str, Any]:
    """Run the role on localhost with the JSON callback; returns rc, the callback's report, the raw output and a summary."""
    playbook = tmp_path / "play.yml"
    playbook.write_text("- name: Drill\n  hosts: localhost\n  gather_facts: false\n  roles:\n    - role: mlops.ollama.scale_validate\n")
    vars_file = tmp_path / "vars.yml"
    vars_file.write_text(yaml.safe_dump(extra_vars))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        {
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
            "ANSIBLE_FORCE_COLOR": "0",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    if kubeconfig:
        env["K8S_AUTH_KUBECONFIG"] = kubeconfig
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"]
    cmd += [str(playbook), "-e", f"@{vars_file}"] + (["--check"] if check else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=timeout, check=False)
    report = json.loads(proc.stdout)
    tasks, changed, failed = [], [], []
    for each in report["plays"]:
        for task in each["tasks"]:
            name = task["task"]["name"]
            result = task["hosts"].get("localhost", {})
            if not result.get("skipped"):
                tasks.append(name)
            if result.get("changed"):
                changed.append(name)
            items = result.get("results") or []
            if result.get("failed"):
                msg = next((str(i.get("msg", "")) for i in items if i.get("failed")), str(result.get("msg", "")))
                failed.append((name, msg, [i.get("item") for i in items if i.get("failed")]))
    return {"rc": proc.returncode, "report": report, "out": proc.stdout + proc.stderr, "tasks": tasks, "changed": changed, "failed": failed}


# -- bad input: refused before the cluster is read --------------------------------------------------------------------
BAD_INPUT = [
    ({"scale_validate_deployment": "ollama\n"}, r'scale_validate_deployment="ollama\n" is not a Kubernetes name'),
    ({"scale_validate_namespace": "ML"}, 'scale_validate_namespace="ML" is not a Kubernetes name'),
    ({"scale_validate_container": "a_b"}, 'scale_validate_container="a_b" is not a Kubernetes name'),
    ({"scale_validate_replicas": -1}, "scale_validate_replicas must be 1 or more (got -1)"),
    ({"scale_validate_timeout": -5}, "scale_validate_timeout must be a whole number of seconds, 1 or more (got -5)"),
    ({"scale_validate_log_timeout": 0}, "scale_validate_log_timeout must be a whole number of seconds, 1 or more (got 0)"),
    ({"scale_validate_events_timeout": float("nan")}, "scale_validate_events_timeout"),
    ({"scale_validate_request_loop_concurrency": 0}, "scale_validate_request_loop_concurrency must be a whole number, 1 or more (got 0)"),
    ({"scale_validate_url": "ollama:11434"}, "scale_validate_url must be empty (reach the Service through the Kubernetes API) or an http:// or https:// URL"),
    ({"scale_validate_url": "http://ollama:11434\n"}, "scale_validate_url must be empty (reach the Service through the Kubernetes API) or an http"),
    ({"scale_validate_models": ["tiny a"]}, "scale_validate_models must be a list of model names without spaces or newlines"),
    ({"scale_validate_report_basename": "../x"}, "scale_validate_report_basename must be a plain file name"),
    ({"scale_validate_startup_regex": "(["}, "unterminated character set"),
]


@pytest.mark.parametrize(("extra", "expect"), BAD_INPUT, ids=[next(iter(case[0])) + "=" + repr(next(iter(case[0].values()))) for case in BAD_INPUT])
def test_bad_input_is_refused_before_the_cluster_is_read(tmp_path: Path, extra: dict[str, Any], expect: str) -> None:
    # No kubeconfig: a task that reached the cluster would fail differently, and the check below would say so.
    result = play(tmp_path, extra)
    assert result["rc"] != 0
    assert len(result["failed"]) == 1, result["failed"]
    name, msg, items = result["failed"][0]
    assert expect in msg or expect in json.dumps(items) or expect in result["out"], msg
    assert not [t for t in result["tasks"] if t.startswith("mlops.ollama.scale_validate : Read the Deployment")], result["tasks"]
    if "regex" in next(iter(extra)):
        assert items and items[0]["key"] == next(iter(extra)), "the failed item names the variable"


def test_a_token_with_a_newline_is_refused_and_never_printed(tmp_path: Path) -> None:
    result = play(tmp_path, {"scale_validate_api_token": "s3cret-token-value\n"})
    assert result["rc"] != 0
    assert "scale_validate_api_token a bearer token without spaces or newlines" in result["failed"][0][1]
    assert "s3cret-token-value" not in result["out"]


def test_every_ollama_call_of_the_role_carries_the_tls_options_and_the_token() -> None:
    calls = []
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            for inner in [task, *task.get("block", []), *task.get("rescue", []), *task.get("always", [])]:
                for module in ("mlops.ollama.ollama_health", "ansible.builtin.uri", "uri"):
                    if module in inner:
                        calls.append((path.name, inner["name"], module, inner[module]))
    assert calls, "the role has no Ollama call?"
    for file, name, module, args in calls:
        assert module == "mlops.ollama.ollama_health", f"{file}: '{name}' uses {module}, not the collection's client"
        assert {"url", "validate_certs", "ca_path", "api_token"} <= set(args), f"{file}: '{name}' lacks {args.keys()}"
    assert len(calls) >= 4  # preflight probe, health probe, inference request, request loop


# -- live: the local stack ----------------------------------------------------------------------------------------------
def kubectl(kubeconfig: str, *args: str, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False)
    if check and done.returncode != 0:
        raise AssertionError(done.stderr)
    return done.stdout


@pytest.fixture
def kubeconfig(stack: Any) -> str:
    return str(stack.kubeconfig)


@pytest.fixture
def namespace(kubeconfig: str) -> Iterator[str]:
    ns = f"drill-role-{secrets.token_hex(3)}"
    kubectl(kubeconfig, "create", "namespace", ns)
    kubectl(kubeconfig, "-n", ns, "apply", "-f", "-", stdin=DEPLOYMENT)
    kubectl(kubeconfig, "-n", ns, "rollout", "status", "deployment/ollama", "--timeout=60s")
    yield ns
    kubectl(kubeconfig, "delete", "namespace", ns, "--wait=false", check=False)


def drill_vars(stack: Any, ns: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "scale_validate_namespace": ns,
        "scale_validate_deployment": "ollama",
        "scale_validate_replicas": 2,
        "scale_validate_timeout": 30,
        "scale_validate_url": stack.ollama_url,
        "scale_validate_models": [f"{stack.registry_host}/mlops/tiny-a:latest"],
        "scale_validate_log_timeout": 20,
        "scale_validate_request_loop_duration_s": 3,
        "scale_validate_events_timeout": 10,
        "scale_validate_report_dir": str(tmp_path / "reports"),
        **extra,
    }


def _hpa(kubeconfig: str, ns: str) -> dict[str, Any]:
    return json.loads(kubectl(kubeconfig, "-n", ns, "get", "hpa", "ollama", "-o", "json"))["spec"]


def test_the_hpa_and_the_report_are_restored_when_the_replica_count_cannot_be(tmp_path: Path, stack: Any, kubeconfig: str, namespace: str) -> None:
    # The fault: the Deployment is deleted once the drill has scaled it up, so scaling it back and restoring its count fail.
    deleted = threading.Event()

    def delete_once_scaled() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            spec = kubectl(kubeconfig, "-n", namespace, "get", "deploy", "ollama", "-o", "jsonpath={.spec.replicas}", check=False)
            if spec.strip() == "2":
                kubectl(kubeconfig, "-n", namespace, "delete", "deploy", "ollama", "--wait=false")
                deleted.set()
                return
            time.sleep(0.2)

    killer = threading.Thread(target=delete_once_scaled, daemon=True)
    killer.start()
    result = play(tmp_path, drill_vars(stack, namespace, tmp_path), kubeconfig=kubeconfig)
    killer.join(5)
    assert deleted.is_set(), "the drill never scaled up, so the fault was not injected"
    assert result["rc"] != 0
    hpa = _hpa(kubeconfig, namespace)
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 3), "the HPA was left pinned"
    assert "Disabled" not in str(hpa.get("behavior")), "the HPA was left with a direction disabled"
    assert "mlops.ollama.scale_validate : Restore the HPA's minReplicas, maxReplicas and behavior" in result["tasks"]

    final = result["failed"][-1]
    assert final[0] == "mlops.ollama.scale_validate : Fail when the drill, the restore or the report failed (after all three were attempted)"
    assert "replicas NOT restored" in final[1] and "HPA settings restored" in final[1], final[1]
    assert "Report: " in final[1]

    reports = tmp_path / "reports"
    base = reports / f"scale-drill-{namespace}-ollama"
    summary = json.loads(base.with_suffix(".json").read_text())["summary"]
    assert summary["outcome"] == "failed"
    assert summary["restored"] is False and summary["replicas_restored"] is False and summary["hpa_restored"] is True
    md = base.with_suffix(".md").read_text()
    assert "| replicas | **no** | to 1: " in md and "| HPA ollama | yes | minReplicas 1, maxReplicas 3 |" in md
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in reports.iterdir()} == {base.name + s: 0o600 for s in (".json", ".md", ".svg")}


def test_check_mode_predicts_the_drill_and_changes_nothing(tmp_path: Path, stack: Any, kubeconfig: str, namespace: str) -> None:
    before = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "deploy", "ollama", "-o", "json"))["metadata"]["resourceVersion"]
    hpa_before = _hpa(kubeconfig, namespace)
    result = play(tmp_path, drill_vars(stack, namespace, tmp_path), check=True, kubeconfig=kubeconfig)
    assert result["rc"] == 0, result["failed"] or result["out"][-3000:]
    assert result["changed"] == []
    assert "Check mode: the drill would scale Deployment" in result["out"]
    assert "from 1 to 2 replicas and back to 1, pinning HPA ollama" in result["out"]
    after = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "deploy", "ollama", "-o", "json"))["metadata"]["resourceVersion"]
    assert after == before and _hpa(kubeconfig, namespace) == hpa_before
    assert not (tmp_path / "reports").exists()


def test_check_mode_on_a_namespace_the_site_has_not_deployed_to(tmp_path: Path, stack: Any, kubeconfig: str) -> None:
    fresh = f"never-made-{secrets.token_hex(3)}"
    result = play(tmp_path, drill_vars(stack, fresh, tmp_path), check=True, kubeconfig=kubeconfig)
    assert result["rc"] == 0, result["failed"] or result["out"][-3000:]
    assert result["changed"] == []
    assert f"Deployment {fresh}/ollama does not exist yet" in result["out"]


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Forwards to the stack's Ollama and records the Authorization header of every request."""

    upstream = ""
    seen: list[str | None] = []

    def _forward(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        req = urllib.request.Request(self.upstream + self.path, data=body, method=self.command, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as reply:
            data = reply.read()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    do_GET = do_POST = do_HEAD = _forward

    def log_message(self, *args: Any) -> None:
        pass


def test_the_token_is_sent_to_ollama_and_never_printed(tmp_path: Path, stack: Any, kubeconfig: str, namespace: str) -> None:
    _Recorder.upstream, _Recorder.seen = stack.ollama_url, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        extra = {"scale_validate_url": url, "scale_validate_api_token": "s3cret-token-value"}
        result = play(tmp_path, drill_vars(stack, namespace, tmp_path, **extra), check=True, kubeconfig=kubeconfig)
    finally:
        server.shutdown()
    assert result["rc"] == 0, result["failed"] or result["out"][-3000:]
    assert _Recorder.seen and set(_Recorder.seen) == {"Bearer s3cret-token-value"}
    assert "s3cret-token-value" not in result["out"]
