"""The kubernetes option: checked before anything is sent, with the credentials chosen as kubernetes.core chooses them.

What the API server and its proxy answer (401, 403, no endpoint, a pod not running) is shown on the real stack, in
tests/integration/test_ollama_through_kubernetes.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_connection as oc
from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_health_cli as cli
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import OllamaClient, OllamaParameterError
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_kubernetes import one_pod_options

TOKEN = "abc.def"  # noqa: S105 - a made-up token


def kubeconfig(tmp_path: Path, server: str = "https://api.example.test:6443") -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}, {"name": "other", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return str(path)


def test_a_service_through_a_kubeconfig(tmp_path: Path) -> None:
    settings = oc.connection_settings(None, kubernetes={"service": "ollama", "namespace": "ml", "kubeconfig": kubeconfig(tmp_path)})
    assert settings.url == "https://api.example.test:6443/api/v1/namespaces/ml/services/ollama:11434/proxy"
    assert settings.headers == {"Authorization": f"Bearer {TOKEN}"}
    assert settings.endpoint == "service ml/ollama:11434 through the Kubernetes API at https://api.example.test:6443"
    one_pod = one_pod_options({"pod_selector": "app=ollama", "namespace": "ml", "kubeconfig": kubeconfig(tmp_path)}, "ollama-0")
    assert oc.connection_settings(None, kubernetes=one_pod).url.endswith("/namespaces/ml/pods/ollama-0:11434/proxy")


def test_a_host_and_token_need_no_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    options = {"pod": "ollama-abc", "namespace": "team", "port": 8080, "host": "https://10.0.0.1:6443/", "api_key": "t"}
    settings = oc.connection_settings(None, kubernetes=options)
    assert settings.url == "https://10.0.0.1:6443/api/v1/namespaces/team/pods/ollama-abc:8080/proxy"
    assert settings.headers == {"Authorization": "Bearer t"}


def test_requests_carry_the_api_servers_credentials_under_the_proxy_path(tmp_path: Path) -> None:
    import httpx

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"models": []})

    options = {"service": "ollama", "kubeconfig": kubeconfig(tmp_path)}
    client = OllamaClient(None, kubernetes=options, transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    client.tags()
    assert seen[0].url.path == "/api/v1/namespaces/ml/services/ollama:11434/proxy/api/tags"
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}" and client.requests_made == ["GET /api/tags"]


@pytest.mark.parametrize(
    ("options", "url", "extra", "named"),
    [
        ({"service": "ollama"}, "http://x:11434", {}, "url and kubernetes are both set"),
        ({}, None, {}, "exactly one of service"),
        ({"service": "ollama", "pod": "p"}, None, {}, "exactly one of service"),
        ({"service": "Ollama_1"}, None, {}, "kubernetes.service='Ollama_1'"),
        ({"service": "ollama", "namespace": "a.b"}, None, {}, "kubernetes.namespace='a.b'"),
        ({"service": "ollama", "port": 0}, None, {}, "kubernetes.port=0"),
        ({"service": "ollama"}, None, {"api_token": "t"}, "api_token is for a proxy in front of url"),
        ({"service": "ollama"}, None, {"validate_certs": False}, "kubernetes.validate_certs"),
        ({"service": "ollama", "kubeconfig": "/nonexistent/kubeconfig"}, None, {}, "kubernetes.kubeconfig"),
    ],
)
def test_a_bad_kubernetes_option_fails_naming_it(options: dict, url: str | None, extra: dict, named: str) -> None:
    with pytest.raises(OllamaParameterError, match=named.replace("(", r"\(").replace(".", r"\.")):
        oc.connection_settings(url, kubernetes=options, **extra)


def test_the_environments_url_and_token_do_not_meet_an_explicit_kubernetes_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_URL", "http://elsewhere:11434")
    monkeypatch.setenv("OLLAMA_API_TOKEN", "secret")
    options = oc.module_connection_options({"kubernetes": {"service": "ollama", "kubeconfig": kubeconfig(tmp_path)}})
    assert options["url"] is None and options["api_token"] is None
    assert oc.connection_settings(**options).route is not None
    plain = oc.module_connection_options({})
    assert plain["url"] == "http://elsewhere:11434" and plain["api_token"] == "secret"


def test_the_command_reads_the_k8s_auth_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", kubeconfig(tmp_path))
    monkeypatch.setenv("K8S_AUTH_CONTEXT", "other")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "false")
    args = cli.build_parser().parse_args(["--service", "ollama", "--namespace", "team"])
    options = cli.cli_kubernetes(args)
    assert cli.cli_url(args) is None
    assert options is not None and options["kubeconfig"].endswith("kubeconfig") and options["context"] == "other" and options["validate_certs"] is False
    assert oc.connection_settings(None, kubernetes=options).url.endswith("/namespaces/team/services/ollama:11434/proxy")


def test_the_command_refuses_a_url_with_a_service() -> None:
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["--service", "ollama", "--url", "http://x:11434"])
    assert exited.value.code == cli.EXIT_USAGE


def test_a_pod_selector_is_for_the_modules_that_act_on_every_pod() -> None:
    from ansible_collections.mlops.ollama.plugins.module_utils._ollama_kubernetes import check_selector

    with pytest.raises(OllamaParameterError, match="ollama_models and ollama_health act on each"):
        oc.connection_settings(None, kubernetes={"pod_selector": "app=ollama"})
    assert check_selector({"pod_selector": " app=ollama,tier=llm ", "namespace": "ml"}) == "app=ollama,tier=llm"
    for bad, named in (({"pod_selector": "app = ollama"}, "without spaces"), ({"pod_selector": "app=ollama", "service": "ollama"}, "give one of them")):
        with pytest.raises(OllamaParameterError, match=named):
            check_selector(bad)


def test_the_kubeconfig_is_read_once_for_the_check_the_client_and_each_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_kubernetes as ok

    loads: list[str] = []
    real = ok.k8s_config.load_kube_config

    def counting(*args: object, **kwargs: object) -> None:
        loads.append(str(kwargs.get("config_file")))
        real(*args, **kwargs)

    monkeypatch.setattr(ok.k8s_config, "load_kube_config", counting)
    selector = {"pod_selector": "app=ollama", "namespace": "ml", "kubeconfig": kubeconfig(tmp_path)}
    urls = [oc.connection_settings(None, kubernetes=one_pod_options(selector, pod)).url for pod in ("a", "b", "c")]
    assert [u.rsplit("/pods/", 1)[1] for u in urls] == ["a:11434/proxy", "b:11434/proxy", "c:11434/proxy"]
    assert len(loads) == 1, loads
