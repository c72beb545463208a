"""mlops.ollama.ollama_model, ollama_models and ollama_model_info against the local stack's real servers.

Every behaviour here comes from a real Ollama (v0.11.4, a fresh server with an empty models
directory per test) pulling from a real OCI registry (docker-registry) over the registry
protocol: present and idempotent, latest with an unchanged and a changed digest, absent,
a declared set with prune, check mode (verified by listing), info, progress while a pull
runs, and two faults a real stack can produce: Ollama killed mid-pull and restarted, and the
registry stopped. The faults only a fake can produce are in tests/unit/.

A bare server on the host, not a pod: these are module tests, and the faults (the server killed mid-pull, a fresh
models directory per test) are the server process's. The roles and scenarios reach Ollama pods through their Service.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"


Runner = Callable[..., dict[str, Any]]


@pytest.fixture
def run(run_module: Runner) -> Runner:
    """Run a module's real ``main()`` (conftest's run_module) with retries suited to a real, local server."""

    def call(which: str, args: dict[str, Any], *, check_mode: bool = False, diff: bool = False) -> dict[str, Any]:
        return run_module(which, {"retries": 2, "retry_backoff": 0.5, "timeout": 30, **args}, check_mode=check_mode, diff=diff)

    return call


def listing(url: str) -> dict[str, dict[str, Any]]:
    """What the server lists, read directly (not through the module under test)."""
    models = httpx.get(f"{url}/api/tags", timeout=10).json()["models"]
    return {m["name"]: m for m in models}


def registry_digest(registry_host: str, full_name: str) -> str:
    """The registry's manifest digest for ``host/ns/model:tag``, read directly."""
    path, _sep, tag = full_name[len(registry_host) + 1 :].partition(":")
    reply = httpx.head(f"http://{registry_host}/v2/{path}/manifests/{tag or 'latest'}", headers={"Accept": MANIFEST_ACCEPT}, timeout=10)
    assert reply.status_code == 200, (full_name, reply.status_code)
    return reply.headers["Docker-Content-Digest"].split(":", 1)[1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------------------
# ollama_model
# --------------------------------------------------------------------------------------


def test_present_pulls_once_verified_then_is_idempotent(stack: Any, ollama_factory: Callable[[], Any], tmp_path: Path, run: Runner) -> None:
    server = ollama_factory()
    name = stack.models[0]
    args = {"url": server.url, "name": name, "insecure": True}

    # Check mode: predicts the pull, writes nothing.
    predicted = run("ollama_model", args, check_mode=True, diff=True)
    assert predicted["changed"] is True and predicted["action"] == "pull"
    assert predicted["api_calls"] == ["GET /api/tags"]
    assert listing(server.url) == {}
    assert predicted["diff"]["before"] == {"models": {}} and name in predicted["diff"]["after"]["models"]

    progress_file = tmp_path / "progress.json"
    first = run("ollama_model", {**args, "progress_file": str(progress_file)}, diff=True)
    assert first.get("failed") is not True, first.get("msg")
    assert first["changed"] is True and first["action"] == "pull" and first["attempts"] == 1
    expected = registry_digest(stack.registry_host, name)
    listed = listing(server.url)[name]
    # The model is listed with the registry's manifest digest, and the module says so.
    assert first["model"] == {"name": name, "digest": expected, "size": listed["size"], "modified_at": listed["modified_at"]}
    assert first["digest_before"] is None and first["digest_after"] == expected == listed["digest"]
    verification = first["verification"]
    assert verification["listed"] is True and verification["manifest_digest"] == expected
    assert verification["weights_layer"] in verification["layers_reported"] and verification["weights_layer_reported"] is True
    assert 0 < first["pulled_bytes"] <= listed["size"] and first["duration_s"] > 0
    assert first["diff"]["before"] == {"models": {}} and first["diff"]["after"] == {"models": {name: expected}}
    final = json.loads(progress_file.read_text())
    assert final["state"] == "done" and final["percent"] == 100.0 and final["model"] == name and final["pulled_bytes"] == first["pulled_bytes"]

    second = run("ollama_model", args)
    assert second["changed"] is False and second["action"] == "none"
    assert second["api_calls"] == ["GET /api/tags"]
    assert second["model"]["digest"] == expected
    assert listing(server.url)[name]["modified_at"] == listed["modified_at"]  # not pulled again


def test_latest_with_unchanged_and_changed_digest(stack: Any, ollama_factory: Callable[[], Any], push_variant: Callable[[str, int], str], run: Runner) -> None:
    repo = unique("mlops/variant")
    full = push_variant(f"{repo}:latest", 101)
    old = registry_digest(stack.registry_host, full)
    server = ollama_factory()
    args = {"url": server.url, "name": full, "state": "latest", "insecure": True}

    first = run("ollama_model", args)
    assert first.get("failed") is not True, first.get("msg")
    assert first["changed"] is True and first["digest_after"] == old

    # Unchanged in the registry: pulled again, no change, and check mode predicts that from the registry.
    same = run("ollama_model", args)
    assert same["changed"] is False and same["action"] == "pull" and same["digest_before"] == same["digest_after"] == old
    assert same["pulled_bytes"] == 0  # every layer was already there
    predicted = run("ollama_model", args, check_mode=True)
    assert predicted["changed"] is False and predicted["registry_digest"] == old and predicted["api_calls"] == ["GET /api/tags"]

    # The tag moves in the registry.
    push_variant(f"{repo}:latest", 202)
    new = registry_digest(stack.registry_host, full)
    assert new != old
    predicted = run("ollama_model", args, check_mode=True, diff=True)
    assert predicted["changed"] is True and predicted["registry_digest"] == new
    assert predicted["diff"]["after"]["models"][full] == new and predicted["diff"]["before"]["models"][full] == old
    assert listing(server.url)[full]["digest"] == old  # check mode changed nothing

    changed = run("ollama_model", args)
    assert changed["changed"] is True and changed["digest_before"] == old and changed["digest_after"] == new
    assert listing(server.url)[full]["digest"] == new and changed["pulled_bytes"] > 0

    again = run("ollama_model", args)
    assert again["changed"] is False and again["digest_after"] == new


def test_pinned_digest(stack: Any, ollama_factory: Callable[[], Any], run: Runner) -> None:
    name = stack.models[1]
    digest = registry_digest(stack.registry_host, name)
    server = ollama_factory()
    pinned = run("ollama_model", {"url": server.url, "name": name, "insecure": True, "digest": f"sha256:{digest}"})
    assert pinned["changed"] is True and pinned["verification"]["pinned_digest_matches"] is True
    short = run("ollama_model", {"url": server.url, "name": name, "insecure": True, "digest": digest[:12]})
    assert short["changed"] is False and short["api_calls"] == ["GET /api/tags"]

    other = ollama_factory()
    wrong = "0" * 64
    failed = run("ollama_model", {"url": other.url, "name": name, "insecure": True, "digest": wrong})
    assert failed["failed"] is True and failed["error"]["type"] == "OllamaVerificationError"
    assert f"not the pinned {wrong}" in failed["msg"] and digest in failed["msg"]


def test_absent(stack: Any, ollama_factory: Callable[[], Any], run: Runner) -> None:
    server = ollama_factory()
    name = stack.models[0]
    assert run("ollama_model", {"url": server.url, "name": name, "insecure": True})["changed"] is True

    predicted = run("ollama_model", {"url": server.url, "name": name, "state": "absent"}, check_mode=True, diff=True)
    assert predicted["changed"] is True and predicted["action"] == "delete" and predicted["api_calls"] == ["GET /api/tags"]
    assert predicted["diff"]["after"] == {"models": {}}
    assert name in listing(server.url)

    deleted = run("ollama_model", {"url": server.url, "name": name.replace(":latest", ""), "state": "absent"})
    assert deleted["changed"] is True and deleted["model"] is None and "DELETE /api/delete" in deleted["api_calls"]
    assert listing(server.url) == {}

    again = run("ollama_model", {"url": server.url, "name": name, "state": "absent"})
    assert again["changed"] is False and again["api_calls"] == ["GET /api/tags"]


def test_registry_has_no_such_model(stack: Any, ollama_factory: Callable[[], Any], run: Runner) -> None:
    server = ollama_factory()
    missing = f"{stack.registry_host}/{unique('mlops/never-pushed')}:latest"
    result = run("ollama_model", {"url": server.url, "name": missing, "insecure": True, "retries": 3})
    assert result["failed"] is True and result["changed"] is False and result["model"] is None
    assert result["error"]["type"] == "OllamaNotFound" and result["attempts"] == 1  # not retried
    assert "pull model manifest: file does not exist" in result["msg"] and missing in result["msg"] and server.url in result["msg"]
    assert listing(server.url) == {}


def test_plain_http_registry_without_insecure_says_so(stack: Any, ollama_factory: Callable[[], Any], run: Runner) -> None:
    server = ollama_factory()
    result = run("ollama_model", {"url": server.url, "name": stack.models[0], "retries": 0})
    assert result["failed"] is True and "insecure: true" in result["msg"] and "HTTP response to HTTPS client" in result["msg"]


def test_progress_is_reported_while_the_pull_runs(stack: Any, ollama_factory: Callable[[], Any], tmp_path: Path, run: Runner) -> None:
    """A watcher reads the progress file during the pull, as the model_sync role does through async_status."""
    server = ollama_factory()
    progress_file = tmp_path / "progress.json"
    seen: list[dict[str, Any]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                snapshot = json.loads(progress_file.read_text())
            except (OSError, ValueError):  # not written yet; a reader never sees half a file (atomic rename)
                snapshot = None
            if snapshot and (not seen or snapshot["updated_at"] != seen[-1]["updated_at"] or snapshot["state"] != seen[-1]["state"]):
                seen.append(snapshot)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = run(
            "ollama_models", {"url": server.url, "models": stack.models, "insecure": True, "progress_file": str(progress_file), "progress_interval": 1}
        )
    finally:
        time.sleep(0.3)
        stop.set()
        watcher.join(5)
    assert result.get("failed") is not True, result.get("msg")
    assert result["pulled"] == stack.models
    during = [s for s in seen if s["state"] in ("pulling", "verifying")]
    assert len(during) >= 3, seen
    assert {s["model"] for s in during} == set(stack.models)
    assert {(s["index"], s["count"]) for s in seen} >= {(1, 2), (2, 2)}
    assert any(s["total"] and 0 < s["completed"] for s in during)
    assert all(s["line"].startswith(f"[{s['index']}/2] {s['model']}: ") for s in seen)
    assert seen[-1]["state"] == "done" and seen[-1]["percent"] == 100.0
    assert len(result["progress"]) >= 2 and result["progress"][-1]["state"] == "done"


# --------------------------------------------------------------------------------------
# ollama_models: a declared set
# --------------------------------------------------------------------------------------


def test_declared_set_one_request_when_nothing_to_do_and_prune(stack: Any, ollama_factory: Callable[[], Any], run: Runner) -> None:
    server = ollama_factory()
    a, b = stack.models
    base = {"url": server.url, "insecure": True}

    first = run("ollama_models", {**base, "models": [a]})
    assert first["changed"] is True and first["pulled"] == [a]
    both = run("ollama_models", {**base, "models": [a, b]}, diff=True)
    assert both["changed"] is True and both["pulled"] == [b] and both["unchanged"] == [a]
    assert set(both["diff"]["after"]["models"]) == {a, b}

    # Every declared model present: one /api/tags request and no other.
    noop = run("ollama_models", {**base, "models": [a.replace(":latest", ""), {"name": b}]})
    assert noop["changed"] is False and noop["api_calls"] == ["GET /api/tags"]
    assert [m["action"] for m in noop["models"]] == ["none", "none"]

    # Prune: check mode predicts, changes nothing (verified by listing), then the real run deletes.
    before = listing(server.url)
    predicted = run("ollama_models", {**base, "models": [b], "prune": True}, check_mode=True, diff=True)
    assert predicted["changed"] is True and predicted["deleted"] == [a] and predicted["api_calls"] == ["GET /api/tags"]
    assert predicted["diff"]["after"]["models"] == {b: before[b]["digest"]}
    assert listing(server.url) == before

    pruned = run("ollama_models", {**base, "models": [b], "prune": True})
    assert pruned["changed"] is True and pruned["deleted"] == [a] and pruned["pulled"] == []
    assert set(listing(server.url)) == {b}
    assert run("ollama_models", {**base, "models": [b], "prune": True})["api_calls"] == ["GET /api/tags"]


def test_prune_with_an_empty_set_deletes_nothing_unless_prune_all(stack: Any, ollama_factory: Callable[[], Any], run: Runner) -> None:
    server = ollama_factory()
    name = stack.models[0]
    base = {"url": server.url, "insecure": True}
    assert run("ollama_model", {**base, "name": name})["changed"] is True
    before = listing(server.url)

    for models in ([], [{"name": "not-here", "state": "absent"}]):
        refused = run("ollama_models", {**base, "models": models, "prune": True})
        assert refused["failed"] is True and refused["changed"] is False
        assert "would delete every model" in refused["msg"] and "prune_all: true" in refused["msg"]
        assert listing(server.url) == before

    emptied = run("ollama_models", {**base, "models": [], "prune": True, "prune_all": True})
    assert emptied["changed"] is True and emptied["deleted"] == [name]
    assert listing(server.url) == {}


def test_check_mode_changes_nothing(stack: Any, ollama_factory: Callable[[], Any], push_variant: Callable[[str, int], str], run: Runner) -> None:
    """Pulls, updates, deletions and pruning, all in check mode: the server lists exactly what it did before."""
    server = ollama_factory()
    a, b = stack.models
    assert run("ollama_model", {"url": server.url, "name": a, "insecure": True})["changed"] is True
    before = listing(server.url)
    result = run(
        "ollama_models",
        {"url": server.url, "insecure": True, "prune": True, "models": [{"name": b, "state": "latest"}, {"name": "other:latest", "state": "absent"}]},
        check_mode=True,
        diff=True,
    )
    assert result["changed"] is True and result["pulled"] == [b] and result["deleted"] == [a]
    assert all(call.startswith("GET ") for call in result["api_calls"])
    assert listing(server.url) == before


# --------------------------------------------------------------------------------------
# ollama_model_info
# --------------------------------------------------------------------------------------


def test_info_reports_what_the_server_says(stack: Any, run: Runner) -> None:
    url = stack.ollama_url
    a = stack.models[0]
    result = run("ollama_model_info", {"url": url, "models": [a.replace(":latest", ""), "not-here"]})
    assert result["changed"] is False
    assert result["version"] == httpx.get(f"{url}/api/version").json()["version"] == "0.11.4"
    assert {m["name"]: m["digest"] for m in result["models"]} == {n: m["digest"] for n, m in listing(url).items()}
    assert result["models_total"] == len(result["models"])
    show = httpx.post(f"{url}/api/show", json={"model": a}).json()
    assert result["details"][a]["capabilities"] == show["capabilities"] and result["details"][a]["modelfile"] == show["modelfile"]
    assert "tensors" not in result["details"][a]
    assert result["details"]["not-here:latest"] is None and result["missing"] == ["not-here:latest"]
    assert {m["name"] for m in result["loaded"]} <= set(listing(url))
    assert result["api_calls"] == ["GET /api/version", "GET /api/tags", "POST /api/show", "POST /api/show", "GET /api/ps"]

    queried = run("ollama_model_info", {"url": url, "query": f"[?name == '{a}']", "all_details": True, "gather": ["models", "details"]})
    assert [m["name"] for m in queried["models"]] == [a] and list(queried["details"]) == [a]
    assert queried["models_total"] >= 2
    assert queried["api_calls"] == ["GET /api/tags", "POST /api/show"]


# --------------------------------------------------------------------------------------
# Faults a real stack can produce
# --------------------------------------------------------------------------------------


def test_ollama_killed_mid_pull_and_restarted_the_pull_resumes_and_verifies(stack: Any, ollama_factory: Callable[[], Any], run: Runner) -> None:
    server = ollama_factory()
    name = stack.models[0]
    blobs = Path(server.models_dir) / "blobs"
    events: dict[str, Any] = {}

    def crash_and_restart() -> None:
        # Kill as soon as the first layer is complete on disk (Ollama spends about a second per
        # layer, so the remaining layers are still being fetched), then start it again.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = [p.name for p in blobs.glob("sha256-*") if "partial" not in p.name] if blobs.is_dir() else []
            if done:
                events["blobs_at_kill"] = done
                server.kill()
                events["killed_at"] = time.monotonic()
                time.sleep(1.0)
                server.start()
                events["restarted_at"] = time.monotonic()
                return
            time.sleep(0.02)

    chaos = threading.Thread(target=crash_and_restart, daemon=True)
    chaos.start()
    result = run("ollama_model", {"url": server.url, "name": name, "insecure": True, "retries": 5, "retry_backoff": 1, "timeout": 30})
    chaos.join(90)
    assert "killed_at" in events, "the pull ended before the test could kill Ollama"
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True and result["attempts"] >= 2
    assert result["retried_errors"][0].startswith(("attempt 1: OllamaConnectionLost", "attempt 1: OllamaUnreachable", "attempt 1: OllamaProtocolError"))
    expected = registry_digest(stack.registry_host, name)
    assert result["digest_after"] == expected == listing(server.url)[name]["digest"]
    assert result["verification"]["weights_layer_reported"] is True
    # Ollama v0.11 prunes partial and unreferenced blobs when it starts (unless OLLAMA_NOPRUNE is set),
    # so after a restart the retried pull fetches those layers again; pulled_bytes counts each layer once.
    assert result["pulled_bytes"] == listing(server.url)[name]["size"]


def test_stalled_pull_is_abandoned_and_resumed_without_downloading_again(stack: Any, ollama_factory: Callable[[], Any], run: Runner) -> None:
    """A real stall: Ollama repeats the same progress line for about a second after each layer of the
    tiny model, which a stall_timeout of 0.3 s takes for a stall. Each abandoned attempt leaves the
    server running, so the next attempt continues: a finished layer is never fetched again."""
    server = ollama_factory()
    name = stack.models[0]
    blobs = Path(server.models_dir) / "blobs"
    first_seen: dict[str, int] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if blobs.is_dir():
                for path in blobs.glob("sha256-*"):
                    if "partial" not in path.name:
                        try:
                            first_seen.setdefault(path.name, path.stat().st_ino)
                        except FileNotFoundError:
                            pass
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = run("ollama_model", {"url": server.url, "name": name, "insecure": True, "stall_timeout": 0.3, "retries": 10, "retry_backoff": 0.1})
    finally:
        stop.set()
        watcher.join(5)
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True and result["attempts"] >= 2
    assert all(error.split(": ")[1] == "OllamaTimeout" for error in result["retried_errors"]), result["retried_errors"]
    assert result["digest_after"] == registry_digest(stack.registry_host, name) == listing(server.url)[name]["digest"]
    # Every layer file is the one first written: nothing was downloaded again.
    assert first_seen
    for blob, inode in first_seen.items():
        assert (blobs / blob).stat().st_ino == inode, blob
    assert result["pulled_bytes"] == listing(server.url)[name]["size"]


def test_registry_stopped_clear_error_nothing_claimed(stack: Any, ollama_factory: Callable[[], Any], registry_factory: Callable[[], Any], run: Runner) -> None:
    registry = registry_factory()
    server = ollama_factory()
    a, b = (f"{registry.host}/{m.split('/', 1)[1]}" for m in stack.models)
    base = {"url": server.url, "insecure": True, "retries": 1, "retry_backoff": 0.2}
    assert run("ollama_model", {**base, "name": a})["changed"] is True
    digest_a = listing(server.url)[a]["digest"]

    registry.stop()
    missing = run("ollama_model", {**base, "name": b})
    assert missing["failed"] is True and missing["changed"] is False and missing["model"] is None
    assert missing["error"]["type"] == "OllamaRegistryError" and missing["attempts"] == 2
    assert registry.host in missing["msg"] and "connection refused" in missing["msg"] and "registry" in missing["msg"]
    assert b not in listing(server.url)

    latest = run("ollama_model", {**base, "name": a, "state": "latest"})
    assert latest["failed"] is True and latest["changed"] is False
    assert listing(server.url)[a]["digest"] == digest_a  # the model there is untouched

    # Check mode cannot ask the stopped registry either: it says so and assumes a change.
    predicted = run("ollama_model", {**base, "name": a, "state": "latest"}, check_mode=True)
    assert predicted["changed"] is True and predicted["registry_digest"] is None
    warnings = [w["event"]["msg"] if isinstance(w, dict) else str(w) for w in predicted.get("warnings", [])]
    assert any("check mode cannot tell whether" in w and registry.host in w for w in warnings), warnings


# --------------------------------------------------------------------------------------
# The documented progress pattern, end to end through ansible-playbook (async + async_status + slurp)
# --------------------------------------------------------------------------------------

PLAYBOOK = """
- name: Pull with progress
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Start the pull in the background
      mlops.ollama.ollama_models:
        url: "{{ url }}"
        models: "{{ models }}"
        insecure: true
        progress_file: "{{ progress_file }}"
        progress_interval: 1
      async: 300
      poll: 0
      register: __pull_job

    - name: Report progress until the pull ends
      ansible.builtin.include_tasks: wait_for_pull.yml
"""

WAIT_FOR_PULL = """
- name: Wait up to 1 s for the pull
  ansible.builtin.async_status:
    jid: "{{ __pull_job.ansible_job_id }}"
  register: __pull_status
  until: __pull_status.finished
  retries: 1
  delay: 1
  failed_when: __pull_status.finished and __pull_status.failed | default(false)
- name: Read the progress file
  ansible.builtin.slurp:
    src: "{{ progress_file }}"
  register: __pull_progress
  when: not __pull_status.finished
  failed_when: false
- name: Show progress
  ansible.builtin.debug:
    msg: "PROGRESS {{ (__pull_progress.content | b64decode | from_json).line }}"
  when: not __pull_status.finished and __pull_progress.content is defined
- name: Keep waiting
  ansible.builtin.include_tasks: wait_for_pull.yml
  when: not __pull_status.finished
"""


def test_progress_pattern_through_ansible_playbook(stack: Any, ollama_factory: Callable[[], Any], tmp_path: Path) -> None:
    server = ollama_factory()
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    (tmp_path / "wait_for_pull.yml").write_text(WAIT_FOR_PULL)
    extra = {"url": server.url, "models": stack.models, "progress_file": str(tmp_path / "progress.json")}
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build"),
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
    }
    playbook = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or "ansible-playbook"
    proc = subprocess.run(
        [playbook, "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}", "-e", json.dumps(extra), "site.yml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    progress_lines = [line for line in proc.stdout.splitlines() if '"msg": "PROGRESS ' in line]
    assert progress_lines, proc.stdout[-4000:]
    assert any("pulling" in line or "verifying" in line for line in progress_lines), progress_lines
    assert set(listing(server.url)) == set(stack.models)
