"""The README's operations runbook: every ad-hoc command names real options, and runs on the local stack.

The commands are read from the README itself, so the runbook cannot drift from the modules unnoticed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
COMMAND = re.compile(r"^ansible localhost -m (?P<module>\S+) -a '(?P<args>[^']*)'(?P<check> --check)?")
# Not run live, with why (their options are still checked above).
NOT_RUN = {
    "follow=true": "waits up to its timeout for an inference request",
    "previous=true": "kwok pods have no previous container",
    "kind=Certificate": "cert-manager is not installed on the local stack",
}


def runbook_commands() -> list[tuple[str, dict[str, str], bool]]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Operations runbook", 1)[1].split("\n## ", 1)[0]
    commands = []
    for line in section.splitlines():
        line = line.strip().strip("|").strip().strip("`")
        match = COMMAND.match(line)
        if match:
            args = dict(item.split("=", 1) for item in shlex.split(match["args"]))
            commands.append((match["module"], args, bool(match["check"])))
    return commands


COMMANDS = runbook_commands()


def test_the_runbook_has_commands_for_scaling_logs_events_and_health() -> None:
    modules = {module for module, _args, _check in COMMANDS}
    assert {"mlops.ollama.k8s_scale_watch", "mlops.ollama.k8s_pod_logs", "mlops.ollama.k8s_events", "mlops.ollama.ollama_health"} <= modules


def test_every_runbook_option_is_an_option_of_its_module() -> None:
    modules = sorted({module for module, _args, _check in COMMANDS})
    docs = json.loads(subprocess.run(["ansible-doc", "--json", *modules], capture_output=True, text=True, check=True, timeout=300).stdout)
    for module, args, _check in COMMANDS:
        options = docs[module]["doc"]["options"]
        known = set(options) | {alias for spec in options.values() for alias in spec.get("aliases", [])}
        assert set(args) <= known, f"{module}: {sorted(set(args) - known)} not among its options"


@pytest.fixture(scope="module")
def ml_namespace(stack: Any) -> Any:
    """A namespace with a Deployment ``ollama`` labelled as the role labels it, standing in for ``ml``."""
    ns = f"runbook-{secrets.token_hex(3)}"
    env = {**os.environ, "KUBECONFIG": str(stack.kubeconfig)}
    manifest = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: ollama, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app.kubernetes.io/name: ollama, app.kubernetes.io/instance: ollama}}}}
  template:
    metadata: {{labels: {{app.kubernetes.io/name: ollama, app.kubernetes.io/instance: ollama}}}}
    spec:
      containers: [{{name: ollama, image: ollama/ollama, resources: {{requests: {{cpu: 100m, memory: 128Mi}}}}}}]
"""
    subprocess.run(["kubectl", "create", "namespace", ns], env=env, check=True, capture_output=True, timeout=60)
    subprocess.run(["kubectl", "apply", "-f", "-"], input=manifest, text=True, env=env, check=True, capture_output=True, timeout=60)
    subprocess.run(["kubectl", "-n", ns, "rollout", "status", "deployment/ollama", "--timeout=60s"], env=env, check=True, capture_output=True, timeout=90)
    yield ns
    subprocess.run(["kubectl", "delete", "namespace", ns, "--wait=false"], env=env, capture_output=True, timeout=60, check=False)


def _runnable(command: tuple[str, dict[str, str], bool]) -> bool:
    line = " ".join(f"{k}={v}" for k, v in command[1].items())
    return not any(marker in line for marker in NOT_RUN)


@pytest.mark.parametrize(
    ("module", "args", "check"),
    [pytest.param(*c, id=f"{c[0].rsplit('.', 1)[1]}:{' '.join(f'{k}={v}' for k, v in c[1].items())}") for c in COMMANDS if _runnable(c)],
)
def test_runbook_command_runs_on_the_local_stack(module: str, args: dict[str, str], check: bool, ml_namespace: str, stack: Any) -> None:
    local = {"ml": ml_namespace, "https://ollama.home.example": stack.ollama_url, "llama3.2:1b": stack.models[0], "...": stack.ollama_url}
    argv = " ".join(f"{k}={shlex.quote(local.get(v, v))}" for k, v in args.items())
    env = {**os.environ, "K8S_AUTH_KUBECONFIG": str(stack.kubeconfig), "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false"}
    result = subprocess.run(
        ["ansible", "localhost", "-m", module, "-a", argv, *(["--check"] if check else [])], capture_output=True, text=True, env=env, timeout=180, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
