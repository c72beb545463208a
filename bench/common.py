"""What every benchmark shares: the stack, timed processes, fake nodes, an independent pod watch, figures.

Timing rule: every tool under comparison runs as its own process, started and timed the
same way (``time.time()`` around ``subprocess.run``), so interpreter start-up counts for
everyone; in-process figures are added where the question is the code's own overhead.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# The stack's real node: the selector that lands a pod there and the taint it must tolerate.
from localstack.node import NODE_SELECTOR as REAL_NODE_SELECTOR
from localstack.node import TAINT as REAL_NODE_TAINT

REPO = Path(__file__).resolve().parents[1]
STACK = REPO / "hack" / "stack"
PYTHON = sys.executable

# Everything the benchmarks create carries this prefix, so a later run can remove what a crashed one left.
PREFIX = "bench-"
# Our fake nodes are tainted and labelled: only the benchmarks' pods land there and the stack's own
# scenarios (which may count or fill nodes) never see a pod of ours on theirs, nor theirs on ours.
NODE_KEY = "mlops.ollama/bench"
POD_IMAGE = "registry.k8s.io/pause:3.10"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the results table; ``met`` is judged from the targets given, None when there is none."""

    benchmark: str
    figure: str
    value: float | None
    unit: str = "s"
    baseline: str = ""
    baseline_value: float | None = None
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    @classmethod
    def make(
        cls,
        benchmark: str,
        figure: str,
        value: float | None,
        unit: str = "s",
        *,
        baseline: str = "",
        baseline_value: float | None = None,
        max_value: float | None = None,
        max_ratio: float | None = None,
        equals: float | None = None,
        note: str = "",
    ) -> Row:
        ratio = value / baseline_value if value is not None and baseline_value else None
        targets, met = [], []
        if equals is not None:
            targets.append(f"= {equals:g}")
            met.append(value is not None and value == equals)
        if max_value is not None:
            targets.append(f"<= {max_value:g}{' ' + unit if unit else ''}")
            met.append(value is not None and value <= max_value)
        if max_ratio is not None:
            targets.append(f"<= {max_ratio:g}x")
            met.append(ratio is not None and ratio <= max_ratio)
        return cls(
            benchmark,
            figure,
            _round(value),
            unit,
            baseline,
            _round(baseline_value),
            _round(ratio),
            " and ".join(targets),
            all(met) if met else None,
            note,
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


@dataclass
class BenchResult:
    name: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    duration_s: float = 0.0
    rounds: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = [asdict(r) for r in self.rows]
        return data


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def spread(values: list[float]) -> dict[str, Any]:
    """The raw samples with their median, min and max, for results.json."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "samples": [round(v, 4) for v in values],
    }


def fit_power(xs: list[float], ys: list[float]) -> float:
    """Exponent b of y = a * x^b (least squares on logs): 1 is linear growth, below 1 sub-linear."""
    return statistics.linear_regression([math.log(x) for x in xs], [math.log(y) for y in ys]).slope


def fit_linear(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """(intercept, slope) of y = c + k * x by least squares."""
    fit = statistics.linear_regression(xs, ys)
    return fit.intercept, fit.slope


# ------------------------------------------------------------------------------------------------
# the stack
# ------------------------------------------------------------------------------------------------
def stack(*args: str, check: bool = True) -> str:
    out = subprocess.run([str(STACK), *args], cwd=REPO, text=True, capture_output=True)
    if check and out.returncode != 0:
        raise RuntimeError(f"hack/stack {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()[-800:]}")
    return out.stdout.strip()


@functools.cache
def stack_env() -> dict[str, str]:
    """The exports of ``hack/stack env`` (KUBECONFIG, MLOPS_OLLAMA_URL, MLOPS_REGISTRY, ...)."""
    env = {}
    for line in stack("env").splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'\"")
    return env


def require_stack() -> None:
    out = subprocess.run([str(STACK), "status"], cwd=REPO, text=True, capture_output=True)
    if out.returncode != 0:
        raise SystemExit(f"error: the local stack is not up; start it with `hack/stack up`.\n{out.stdout}")


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **stack_env(), **(extra or {})}


# ------------------------------------------------------------------------------------------------
# timed processes
# ------------------------------------------------------------------------------------------------
@dataclass
class Timed:
    started: float
    ended: float
    rc: int
    stdout: str
    stderr: str
    result: dict[str, Any] | None = None

    @property
    def wall(self) -> float:
        return self.ended - self.started


def run_timed(argv: list[str], env: dict[str, str] | None = None, check: bool = True, timeout: float = 600) -> Timed:
    started = time.time()
    out = subprocess.run(argv, env=env or tool_env(), text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout)
    ended = time.time()
    timed = Timed(started, ended, out.returncode, out.stdout, out.stderr)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} ... exited {out.returncode}: {(out.stderr or out.stdout).strip()[-1500:]}")
    return timed


def run_module(module: str, args: dict[str, Any], check: bool = True, timeout: float = 600) -> Timed:
    """Run an Ansible module as Ansible runs it on a host: one Python process reading its arguments from a file.

    ``module`` is the dotted import path (``ansible_collections.mlops.ollama.plugins.modules.k8s_scale_watch``).
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="bench-args-", delete=False) as fh:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, fh)
    try:
        timed = run_timed([PYTHON, "-m", module, fh.name], check=False, timeout=timeout)
    finally:
        os.unlink(fh.name)
    try:
        timed.result = json.loads(timed.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        timed.result = None
    if check and (timed.rc != 0 or not timed.result or timed.result.get("failed")):
        msg = (timed.result or {}).get("msg") or (timed.stderr or timed.stdout).strip()[-1500:]
        raise RuntimeError(f"module {module.rsplit('.', 1)[-1]} failed (rc {timed.rc}): {msg}")
    return timed


MLOPS = "ansible_collections.mlops.ollama.plugins.modules."
K8S_CORE = "ansible_collections.kubernetes.core.plugins.modules."


def kubeconfig() -> str:
    return stack_env()["KUBECONFIG"]


def scale_watch(ns: str, name: str, replicas: int, timeout: float) -> Timed:
    """The collection's module, with its defaults (waits for Ready pods and for the surplus ones to be gone)."""
    return run_module(MLOPS + "k8s_scale_watch", {"kubeconfig": kubeconfig(), "namespace": ns, "name": name, "replicas": replicas, "wait_timeout": timeout})


def kubectl_scale(ns: str, name: str, replicas: int, timeout: float) -> Timed:
    """What a person types: kubectl scale, then kubectl rollout status; timed from the first start to the last exit."""
    scale = run_timed(["kubectl", "-n", ns, "scale", f"deployment/{name}", f"--replicas={replicas}"])
    status = run_timed(["kubectl", "-n", ns, "rollout", "status", f"deployment/{name}", f"--timeout={int(timeout)}s"])
    return Timed(scale.started, status.ended, status.rc, status.stdout, status.stderr)


@functools.cache
def ollama_binary() -> str:
    """The stack's own ollama build (the CLI and the server are one binary)."""
    from localstack.stack import Stack

    return str(Stack().binary_paths()["ollama"])


# ------------------------------------------------------------------------------------------------
# an extra Ollama of our own
# ------------------------------------------------------------------------------------------------
class ExtraOllama:
    """``hack/stack extra-ollama NAME``: a real Ollama with its own models directory, started and stopped by the stack command."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dir = REPO / ".stack" / "extra" / name
        self.url = ""

    @property
    def models_dir(self) -> Path:
        return self.dir / "models"

    @property
    def log_file(self) -> Path:
        return self.dir / f"ollama-{self.name}.log"

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def start(self) -> str:
        self.url = stack("extra-ollama", "start", self.name).splitlines()[-1].strip()
        return self.url

    def stop(self) -> None:
        stack("extra-ollama", "stop", self.name, check=False)

    def wipe(self) -> None:
        """Restart on an empty models directory (what a fresh volume is)."""
        self.stop()
        shutil.rmtree(self.models_dir, ignore_errors=True)
        self.start()

    def request_lines(self) -> list[str]:
        """The requests Ollama's HTTP server logged so far (one ``[GIN]`` line each), as ``GET /api/tags``."""
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [" ".join(line.rsplit("|", 1)[-1].replace('"', "").split()) for line in text.splitlines() if line.startswith("[GIN]")]

    def count_requests(self, action: Callable[[], Any]) -> tuple[Any, list[str]]:
        """Run ``action`` and return its value with the requests it made, read from the server's own log."""
        before = len(self.request_lines())
        value = action()
        # The server logs a request after answering it; give the last line time to land.
        seen, stable_since = len(self.request_lines()), time.monotonic()
        while time.monotonic() - stable_since < 0.3:
            time.sleep(0.05)
            now = len(self.request_lines())
            if now != seen:
                seen, stable_since = now, time.monotonic()
        return value, self.request_lines()[before:]


@contextmanager
def extra_ollama(name: str) -> Iterator[ExtraOllama]:
    server = ExtraOllama(name)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------------------------------------
# Kubernetes
# ------------------------------------------------------------------------------------------------
@functools.cache
def kube() -> Any:
    from kubernetes import client, config

    return client.ApiClient(config.new_client_from_config(config_file=stack_env()["KUBECONFIG"]).configuration)


def _ignore(status: int, call: Callable[[], Any]) -> Any:
    from kubernetes.client.exceptions import ApiException

    try:
        return call()
    except ApiException as exc:
        if exc.status != status:
            raise
        return None


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


@contextmanager
def namespace(name: str) -> Iterator[str]:
    """A namespace of our own, deleted (and waited for) afterwards."""
    from kubernetes import client

    core = client.CoreV1Api(kube())
    delete_namespaces([name])
    core.create_namespace({"metadata": {"name": name, "labels": {NODE_KEY: "true"}}})
    # Pods are refused until the ServiceAccount controller made the default account.
    wait_until(lambda: _ignore(404, lambda: core.read_namespaced_service_account("default", name)) is not None, 60, f"ServiceAccount {name}/default")
    try:
        yield name
    finally:
        delete_namespaces([name])


def delete_namespaces(names: list[str], timeout: float = 120) -> None:
    from kubernetes import client

    core = client.CoreV1Api(kube())
    for name in names:
        _ignore(404, lambda n=name: core.delete_namespace(n))
    wait_until(lambda: all(_ignore(404, lambda n=n: core.read_namespace(n)) is None for n in names), timeout, f"namespaces {', '.join(names)} to go", 0.5)


@contextmanager
def fake_nodes(count: int) -> Iterator[list[str]]:
    """``count`` kwok nodes of our own (tainted, labelled), Ready before this yields; deleted afterwards."""
    from kubernetes import client

    core = client.CoreV1Api(kube())
    names = [f"{PREFIX}node-{i}" for i in range(count)]
    for name in names:
        body = {
            "metadata": {
                "name": name,
                # kwok plays the kubelet only for nodes carrying this annotation.
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok", NODE_KEY: "true"},
            },
            "spec": {"taints": [{"key": NODE_KEY, "value": "true", "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"}, "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}},
        }
        _ignore(409, lambda b=body: core.create_node(b))

    def ready() -> bool:
        nodes = core.list_node(label_selector=f"{NODE_KEY}=true").items
        up = {n.metadata.name for n in nodes if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])}
        return set(names) <= up

    try:
        wait_until(ready, 60, f"kwok to mark {count} nodes Ready")
        yield names
    finally:
        delete_nodes()


def delete_nodes() -> None:
    from kubernetes import client

    core = client.CoreV1Api(kube())
    for node in core.list_node(label_selector=f"{NODE_KEY}=true").items:
        _ignore(404, lambda n=node.metadata.name: core.delete_node(n))




def _real_node_pod_spec() -> dict[str, Any]:
    """Ollama from the stack's image on the real node, Ready by an HTTP probe once it serves (every second)."""
    image = stack_env().get("MLOPS_OLLAMA_IMAGE")
    if not image:
        raise SystemExit("error: the local stack has no real node image (MLOPS_OLLAMA_IMAGE is not in `hack/stack env`)")
    probe = {"httpGet": {"path": "/api/version", "port": 11434}, "periodSeconds": 1, "failureThreshold": 1}
    return {
        "nodeSelector": REAL_NODE_SELECTOR,
        "tolerations": [{"key": REAL_NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}],
        "terminationGracePeriodSeconds": 30,
        "containers": [
            {"name": "ollama", "image": image, "readinessProbe": probe, "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}}}
        ],
    }


def create_deployment(ns: str, name: str, replicas: int = 1, *, real_node: bool = False) -> dict[str, str]:
    """A Deployment of kwok pods pinned to our nodes, or of Ollama pods on the real node; returns its selector labels
    once all replicas are Ready."""
    from kubernetes import client

    apps = client.AppsV1Api(kube())
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "mlops-ollama-bench"}
    kwok_pods = {
        "nodeSelector": {NODE_KEY: "true"},
        "tolerations": [{"key": NODE_KEY, "operator": "Exists", "effect": "NoSchedule"}],
        "terminationGracePeriodSeconds": 30,
        "containers": [{"name": "app", "image": POD_IMAGE, "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}],
    }
    body = {
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": _real_node_pod_spec() if real_node else kwok_pods},
        },
    }
    apps.create_namespaced_deployment(ns, body)

    def ready() -> bool:
        st = apps.read_namespaced_deployment_status(name, ns).status
        return (st.ready_replicas or 0) == replicas and (st.replicas or 0) == replicas

    wait_until(ready, 120, f"Deployment {ns}/{name} to have {replicas} Ready replicas")
    return labels


def clean_leftovers() -> None:
    """Remove what an interrupted earlier run left: our namespaces, nodes and extra Ollamas."""
    from kubernetes import client

    core = client.CoreV1Api(kube())
    ours = [ns.metadata.name for ns in core.list_namespace().items if ns.metadata.name.startswith(PREFIX)]
    if ours:
        log(f"removing namespaces left by an earlier run: {', '.join(ours)}")
        delete_namespaces(ours)
    delete_nodes()
    extra = REPO / ".stack" / "extra"
    for port_file in sorted(extra.glob(f"{PREFIX}*/port")):
        ExtraOllama(port_file.parent.name).stop()


# ------------------------------------------------------------------------------------------------
# the independent pod watch
# ------------------------------------------------------------------------------------------------
@dataclass
class PodEvent:
    t: float
    kind: str
    name: str
    ready: bool
    terminating: bool


class PodWatch(threading.Thread):
    """Our own watch on a selector's pods (raw watch stream, nothing shared with the modules under test).

    Records every change with the wall-clock time it arrived, so a target state's moment can be
    found afterwards by replaying the events.
    """

    def __init__(self, ns: str, labels: dict[str, str]) -> None:
        super().__init__(name=f"bench-watch-{ns}", daemon=True)
        from kubernetes import client

        self.core = client.CoreV1Api(kube())
        self.ns = ns
        self.selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        self.events: list[PodEvent] = []
        self.pods: dict[str, tuple[bool, bool]] = {}
        self.lock = threading.Condition()
        self.stopping = threading.Event()
        self.resp: Any = None
        listing = self.core.list_namespaced_pod(ns, label_selector=self.selector)
        self.rv = listing.metadata.resource_version
        for pod in listing.items:
            self.pods[pod.metadata.name] = (_ready(pod.to_dict()), pod.metadata.deletion_timestamp is not None)
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.resp = self.core.list_namespaced_pod(
                    self.ns,
                    label_selector=self.selector,
                    watch=True,
                    resource_version=self.rv,
                    allow_watch_bookmarks=True,
                    timeout_seconds=600,
                    _preload_content=False,
                )
                for line in self.resp:
                    if not line.strip():
                        continue
                    t = time.time()
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    self.rv = (obj.get("metadata") or {}).get("resourceVersion") or self.rv
                    if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        self._apply(t, event["type"], obj)
                    elif event.get("type") == "ERROR":
                        raise RuntimeError(f"watch error: {obj.get('message')}")
            except Exception as exc:  # noqa: BLE001 - a dropped watch resumes from the last version
                if not self.stopping.is_set():
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    time.sleep(0.1)

    def _apply(self, t: float, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        ready, terminating = _ready(obj), bool(obj["metadata"].get("deletionTimestamp"))
        with self.lock:
            if kind == "DELETED":
                self.pods.pop(name, None)
            else:
                self.pods[name] = (ready, terminating)
            self.events.append(PodEvent(t, kind, name, ready, terminating))
            self.lock.notify_all()

    def stop(self) -> None:
        self.stopping.set()
        resp = self.resp
        if resp is not None:
            for close in ("shutdown", "close"):
                try:
                    getattr(resp, close)()
                except Exception:  # noqa: BLE001 - best effort on a stream that may be closed already
                    pass

    def mark(self) -> tuple[int, dict[str, tuple[bool, bool]]]:
        """The position to replay from, and the state there."""
        with self.lock:
            return len(self.events), dict(self.pods)

    def wait_for(self, replicas: int, timeout: float = 180) -> None:
        with self.lock:
            if not self.lock.wait_for(lambda: settled(self.pods, replicas), timeout):
                raise TimeoutError(f"pods of {self.ns} did not settle at {replicas} within {timeout:g} s: {self.pods}")

    def reached_at(self, mark: tuple[int, dict[str, tuple[bool, bool]]], replicas: int) -> float:
        """When (wall clock) the watch first saw the target reached after ``mark``: the last pod Ready, or the last surplus pod gone."""
        index, state = mark
        state = dict(state)
        with self.lock:
            events = self.events[index:]
        for ev in events:
            if ev.kind == "DELETED":
                state.pop(ev.name, None)
            else:
                state[ev.name] = (ev.ready, ev.terminating)
            if settled(state, replicas):
                return ev.t
        raise RuntimeError(f"the watch never saw {replicas} settled pods in {self.ns}")


def settled(pods: dict[str, tuple[bool, bool]], replicas: int) -> bool:
    """Exactly ``replicas`` pods exist, all Ready, none terminating (surplus ones gone, not only marked)."""
    return len(pods) == replicas and all(ready and not terminating for ready, terminating in pods.values())


def _ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


@contextmanager
def pod_watch(ns: str, labels: dict[str, str]) -> Iterator[PodWatch]:
    watch = PodWatch(ns, labels)
    watch.start()
    try:
        yield watch
    finally:
        watch.stop()
