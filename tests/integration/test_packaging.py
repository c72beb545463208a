"""The collection as users get it: a built tarball, an execution environment, docs that match the code."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, **kwargs)


def test_readme_role_variables_match_the_argument_specs():
    result = _run([sys.executable, str(REPO / "hack" / "role_docs.py"), "--check"])
    assert result.returncode == 0, result.stderr


def test_built_tarball_installs_into_an_empty_path_and_runs_site(tmp_path, stack):
    collections = tmp_path / "collections"
    # Only the installed copy (and kubernetes.core from the ansible package) may be found.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH"}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    env["K8S_AUTH_KUBECONFIG"] = stack.kubeconfig
    dist = tmp_path / "dist"
    built = _run(["ansible-galaxy", "collection", "build", "--output-path", str(dist), str(REPO)], env=env)
    assert built.returncode == 0, built.stderr
    tarball = next(dist.glob("mlops-ollama-*.tar.gz"))
    assert tarball.stat().st_size < 2_000_000, "the tarball carries more than the collection (check build_ignore)"
    installed = _run(["ansible-galaxy", "collection", "install", "--no-deps", "-p", str(collections), str(tarball)], env=env)
    assert installed.returncode == 0, installed.stderr
    assert (collections / "ansible_collections/mlops/ollama/playbooks/site.yml").exists()
    namespace = f"tarball-{uuid.uuid4().hex[:6]}"
    play = _run(
        ["ansible-playbook", "mlops.ollama.site", "-i", str(REPO / "inventories/local"), "--tags", "namespace", "-e", f"k3s_ml_namespace_name={namespace}"],
        env=env,
        cwd=tmp_path,
    )
    try:
        assert play.returncode == 0, play.stdout[-3000:]
        assert str(collections) in _run(["ansible-galaxy", "collection", "list", "mlops.ollama"], env=env).stdout
        got = _run(["kubectl", "--kubeconfig", stack.kubeconfig, "get", "namespace", namespace, "-o", "jsonpath={.metadata.labels}"])
        assert "app.kubernetes.io/managed-by" in got.stdout, got.stderr
    finally:
        _run(["kubectl", "--kubeconfig", stack.kubeconfig, "delete", "namespace", namespace, "--wait=false"])


def test_ansible_builder_creates_the_execution_environment_context(tmp_path):
    context = tmp_path / "context"
    result = _run(
        ["ansible-builder", "create", "-f", str(REPO / "execution-environment.yml"), "-c", str(context), "--output-filename", "Containerfile"], cwd=REPO
    )
    assert result.returncode == 0, result.stdout + result.stderr
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy" in containerfile
    assert (context / "_build" / "requirements.txt").read_text().count("httpx") == 1
    assert "kubernetes.core" in (context / "_build" / "requirements.yml").read_text()
