"""The automation identity holds exactly the rights the site uses: proved from the API server's audit log.

The administrator's part (k3s_ml_namespace with every optional policy and the least-privilege identity) runs with
the kubeconfig. Then the whole site runs as an AWX job would (molecule/site/awx_job.py's environment: only
K8S_AUTH_HOST / K8S_AUTH_API_KEY, no kubeconfig) with every optional part on - ingress as a Traefik IngressRoute with
its HTTPS redirect and a cert-manager Certificate, HPA, the model-drift CronJob - then again with those parts switched
off (so they are pruned) and every pod synced through its own proxy, pruning the first model there; then the drill
alone (--tags scale), one model removed through the Service's proxy (--tags models), and ollama_deploy with
state=absent. Each of these runs is a controller in a network namespace that reaches only the API server's address
(controller_netns), so every Ollama call provably goes through the API server's proxy. The audit log then has to show:

- no request by the automation's ServiceAccount was refused (no 403), and
- every verb on every resource its Role and ClusterRole grant was used at least once.

Slow (three site runs, one with the scaling drill): run it alone, under the live lock.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from controller_netns import api_server_only
from role_runs import real_node_vars

REPO = Path(__file__).resolve().parents[2]
CRDS = sorted((REPO / "molecule/resources/crds").glob("*.yml"))
AUTOMATION = "mlops-ollama-automation"


def _awx_job():
    """molecule/site/awx_job.py: the AWX-like job environment and summary, reused rather than copied."""
    spec = importlib.util.spec_from_file_location("awx_job", REPO / "molecule/site/awx_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def audit_log(stack) -> Path:
    path = Path(getattr(stack, "audit_log", "") or "")
    if not path.name or not path.exists():
        pytest.fail(
            "the local stack's API server writes no audit log (started before hack/localstack/cluster.py set one up):"
            " restart it with `hack/stack down && hack/stack up`",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def crds(kube):
    """The Traefik and cert-manager CRDs (stand-ins without controllers); removed again if this test installed them."""
    ext = client.ApiextensionsV1Api(kube)
    created = []
    for path in CRDS:
        body = yaml.safe_load(path.read_text())
        try:
            ext.create_custom_resource_definition(body)
            created.append(body["metadata"]["name"])
        except ApiException as exc:
            if exc.status != 409:
                raise
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        names = [yaml.safe_load(p.read_text())["metadata"]["name"] for p in CRDS]
        if all(any(c.type == "Established" and c.status == "True" for c in (ext.read_custom_resource_definition(n).status.conditions or [])) for n in names):
            break
        time.sleep(0.5)
    yield
    for name in created:
        ext.delete_custom_resource_definition(name)


def ansible_playbook(args: list[str], env: dict, cwd: Path, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*(prefix or []), str(Path(sys.executable).with_name("ansible-playbook")), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )


def _reaches(prefix: list[str], url: str) -> bool:
    probe = f"import httpx, sys\ntry:\n    httpx.get({url!r}, timeout=3, verify=False)\nexcept httpx.TransportError:\n    sys.exit(1)"
    return subprocess.run([*prefix, sys.executable, "-c", probe], capture_output=True, timeout=60, check=False).returncode == 0


def audit_events(log: Path, username: str) -> list[dict]:
    """Every audit event of ``username`` in the log and its rotated backups."""
    events = []
    for path in sorted(log.parent.glob(log.stem + "*" + log.suffix)):
        for line in path.read_text(errors="replace").splitlines():
            if username in line:
                event = json.loads(line)
                if event.get("user", {}).get("username") == username and event.get("stage") == "ResponseComplete":
                    events.append(event)
    return events


def failed_items(stdout: str) -> str:
    """The messages of the failed loop items in a JSON-callback run (the summary has only the task's)."""
    try:
        report = json.loads(stdout)
    except ValueError:
        return ""
    return "\n".join(
        f"{task['task']['name']}: {str(item.get('msg', ''))[:600]}"
        for play in report["plays"]
        for task in play["tasks"]
        for host in task["hosts"].values()
        for item in host.get("results", []) or []
        if isinstance(item, dict) and item.get("failed")
    )


def granted(rules: list[dict], namespace: str | None) -> set[tuple[str, str, str, str | None]]:
    """(apiGroup, resource[/subresource], verb, namespace) for every grant of the rules."""
    return {(group, resource, verb, namespace) for rule in rules for group in rule["apiGroups"] for resource in rule["resources"] for verb in rule["verbs"]}


def used(events: list[dict]) -> set[tuple[str, str, str, str | None]]:
    out = set()
    for event in events:
        ref = event.get("objectRef") or {}
        if "resource" not in ref:
            continue
        resource = ref["resource"] + ("/" + ref["subresource"] if ref.get("subresource") else "")
        # A Namespace is cluster-scoped, but the audit log names it in objectRef.namespace as well as in its name.
        scope = None if ref["resource"] == "namespaces" else ref.get("namespace")
        out.add((ref.get("apiGroup", ""), resource, event["verb"], scope))
        if event["verb"] == "patch" and event.get("responseStatus", {}).get("code") == 201:
            # A server-side apply that creates the object is authorised for create as well: the log shows only the patch.
            out.add((ref.get("apiGroup", ""), resource, "create", scope))
    return out


def test_the_site_uses_every_right_of_the_automation_and_is_refused_nothing(stack, kube, audit_log, crds, tmp_path):
    awx_job = _awx_job()
    namespace = f"rbac-audit-{uuid.uuid4().hex[:6]}"
    admin_env = awx_job.job_environment(tmp_path / "admin", str(REPO / "build"), {"K8S_AUTH_KUBECONFIG": stack.kubeconfig})
    common = {
        "k3s_ml_namespace_name": namespace,
        "k3s_ml_namespace_automation_enabled": True,
        "k3s_ml_namespace_automation_ingress_crds": True,
        "k3s_ml_namespace_automation_read_all_pods": True,
        "k3s_ml_namespace_quota_enabled": True,
        "k3s_ml_namespace_limit_range_enabled": True,
        "k3s_ml_namespace_network_policy_enabled": True,
    }
    inventory = tmp_path / "inventory.yml"
    models = [f"{stack.pod_registry_host}/mlops/tiny-a:latest"]
    # Ollama runs on the stack's real node and every Ollama call goes through the Service's proxy in the API server.
    job_vars = {
        **common,
        **real_node_vars(stack),
        "ollama_deploy_storage_class": "local-path",
        "ollama_deploy_pvc_size": "5Gi",
        "ollama_deploy_hpa_enabled": True,
        "ollama_deploy_hpa_max_replicas": 3,
        "ollama_deploy_ingress_enabled": True,
        "ollama_deploy_ingress_kind": "ingressroute",
        "ollama_deploy_ingress_host": "ollama.rbac-audit.test",
        "ollama_deploy_ingress_cert_manager": True,
        "model_sync_models": models,
        "model_sync_insecure": True,
        "model_sync_drift_enabled": True,
        "scale_validate_replicas": 2,
        "scale_validate_models": models,
        "scale_validate_request_loop_duration_s": 3,
        "scale_validate_report_dir": str(tmp_path / "reports"),
    }
    inventory.write_text(
        yaml.safe_dump(
            {"ollama_cluster": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}, "vars": job_vars}}
        )
    )
    core = client.CoreV1Api(kube)
    try:
        admin = ansible_playbook(["mlops.ollama.site", "-i", str(inventory), "--tags", "namespace"], admin_env, tmp_path)
        assert admin.returncode == 0, admin.stdout[-4000:]
        token = core.create_namespaced_service_account_token(AUTOMATION, namespace, {"spec": {"expirationSeconds": 3600}}).status.token
        host = kube.configuration.host
        runs = [
            ("everything on", []),
            (
                "optional parts off (pruned)",
                [
                    "-e",
                    json.dumps(
                        {
                            "ollama_deploy_hpa_enabled": False,
                            "ollama_deploy_ingress_kind": "ingress",
                            "ollama_deploy_ingress_cert_manager": False,
                            "model_sync_drift_enabled": False,
                            # Every pod is synced through its own proxy, and pruning deletes the first run's model there.
                            "model_sync_target": "every_pod",
                            "model_sync_models": [f"{stack.pod_registry_host}/mlops/tiny-b:latest"],
                            "model_sync_prune": True,
                            "scale_validate_models": [f"{stack.pod_registry_host}/mlops/tiny-b:latest"],
                        }
                    ),
                ],
            ),
            ("the drill alone", ["--tags", "scale", "-e", json.dumps({"scale_validate_models": [f"{stack.pod_registry_host}/mlops/tiny-b:latest"]})]),
            (
                "a model removed through the Service",
                [
                    "--tags",
                    "models",
                    "-e",
                    json.dumps(
                        {
                            "model_sync_models": [{"name": f"{stack.pod_registry_host}/mlops/tiny-b:latest", "state": "absent"}],
                            "model_sync_verify_inference": False,
                        }
                    ),
                ],
            ),
            ("removal", ["--tags", "deploy", "-e", json.dumps({"ollama_deploy_state": "absent", "ollama_deploy_delete_data": True})]),
        ]
        failed = []
        with api_server_only(host, stack.real_node_ip) as controller:
            for number, (name, extra) in enumerate(runs, 1):
                job_dir = tmp_path / f"run-{number}"
                env = awx_job.job_environment(job_dir, str(REPO / "build"), awx_job.token_auth(host, token))
                run = ansible_playbook(["mlops.ollama.site", "-i", str(inventory), "--skip-tags", "namespace", *extra], env, job_dir, controller)
                if run.returncode != 0:
                    summary = json.dumps(awx_job.summarize(run.returncode, run.stdout, run.stderr), indent=1)[-3000:]
                    failed.append(f"{name}: {summary}\n{failed_items(run.stdout)}")
                if name == "everything on":
                    # While Ollama runs: the controller reaches the API server, and neither a pod nor the Service.
                    pod = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/name=ollama").items[0]
                    service = core.read_namespaced_service("ollama", namespace)
                    assert _reaches(controller, f"{host}/version"), "the controller's namespace does not reach the API server"
                    for address in (f"http://{pod.status.pod_ip}:11434/", f"http://{service.spec.cluster_ip}:11434/", f"http://{stack.pod_registry_host}/v2/"):
                        assert not _reaches(controller, address), f"the controller's namespace reaches {address}"

        time.sleep(2)  # the audit backend writes in batches
        events = audit_events(audit_log, f"system:serviceaccount:{namespace}:{AUTOMATION}")
        assert events, f"no audit event of the automation in {audit_log}"
        refused = sorted({(e["verb"], e["requestURI"]) for e in events if e.get("responseStatus", {}).get("code") == 403})
        assert refused == [], f"the site was refused: {refused}"

        rbac = client.RbacAuthorizationV1Api(kube)
        role = rbac.read_namespaced_role(AUTOMATION, namespace).to_dict()["rules"]
        cluster_role = rbac.read_cluster_role(f"{AUTOMATION}-{namespace}").to_dict()["rules"]
        use = used(events)
        # Cluster-scoped requests carry no namespace; a namespaced Role's grants are used inside its namespace.
        unused = sorted(granted([_camel(r) for r in role], namespace) - use) + sorted(granted([_camel(r) for r in cluster_role], None) - use)
        assert unused == [], "granted but never used by the site (drop them from the Role / ClusterRole templates):\n" + "\n".join(map(str, unused))
        assert failed == [], "\n".join(failed)
    finally:
        try:
            core.delete_namespace(namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
        rbac = client.RbacAuthorizationV1Api(kube)
        for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
            try:
                delete(f"{AUTOMATION}-{namespace}")
            except ApiException as exc:
                if exc.status != 404:
                    raise


def _camel(rule: dict) -> dict:
    """The kubernetes client's snake_case rule as the RBAC API spells it."""
    return {"apiGroups": rule.get("api_groups") or [""], "resources": rule.get("resources") or [], "verbs": rule.get("verbs") or []}
