"""Running one of the collection's roles with ansible-playbook (JSON callback), as the integration tests do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Nothing listens here: a run that gets past the static preflight fails at its first cluster read.
NO_CLUSTER = "https://127.0.0.1:9"


def run_role(stack, tmp_path: Path, role: str, extra_vars: dict, *, expect_failure: bool = True) -> dict:
    """Run one role of the collection on localhost; return the JSON callback's result.

    ``stack`` None: no cluster (K8S_AUTH_HOST points where nothing listens).
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    playbook = tmp_path / "play.yml"
    playbook.write_text(f"- name: Run {role}\n  hosts: localhost\n  gather_facts: false\n  roles:\n    - role: mlops.ollama.{role}\n")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n      ansible_python_interpreter: " + sys.executable + "\n")
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
            "ANSIBLE_FORCE_COLOR": "0",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    if stack is None:
        env.pop("K8S_AUTH_KUBECONFIG", None)
        env.update({"K8S_AUTH_HOST": NO_CLUSTER, "K8S_AUTH_API_KEY": "none", "K8S_AUTH_VERIFY_SSL": "false", "HOME": str(tmp_path)})
    else:
        env["K8S_AUTH_KUBECONFIG"] = stack.kubeconfig
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook), "-e", json.dumps(extra_vars)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    if expect_failure:
        assert proc.returncode != 0, f"the run should have failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout)


def real_node_vars(stack) -> dict:
    """ollama_deploy's variables that run the stack's Ollama image on its real node, with small requests and fast probes."""
    repository, _colon, tag = stack.images["ollama"].rpartition(":")
    return {
        "ollama_deploy_image_repository": repository,
        "ollama_deploy_image_tag": tag,
        "ollama_deploy_resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "ollama_deploy_node_selector": {"mlops.ollama/node": "real"},
        "ollama_deploy_tolerations": [{"key": "mlops.ollama/real-node", "operator": "Exists", "effect": "NoSchedule"}],
        "ollama_deploy_startup_probe": {"periodSeconds": 1, "failureThreshold": 60},
        "ollama_deploy_readiness_probe": {"periodSeconds": 1},
    }


def deploy_on_real_node(stack, tmp_path: Path, namespace: str, replicas: int, **role_vars) -> dict:
    """Run ollama_deploy into ``namespace`` with the stack's Ollama image on its real node (fast probes, emptyDir storage)."""
    extra = {
        "ollama_deploy_namespace": namespace,
        "ollama_deploy_replicas": replicas,
        "ollama_deploy_storage": "emptydir",
        **real_node_vars(stack),
        **role_vars,
    }
    result = run_role(stack, tmp_path, "ollama_deploy", extra, expect_failure=False)
    failed = [t["task"]["name"] for p in result["plays"] for t in p["tasks"] if t["hosts"]["localhost"].get("failed")]
    assert result["stats"]["localhost"]["failures"] == 0, failed
    return extra
