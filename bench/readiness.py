"""1. Readiness detection: how late does each tool return after the pods actually reached the target?

Scale 1 -> 5 -> 1, for each round and each tool (the order rotates per round so none always
goes first). Our own watch records when the last pod became Ready (scale-up) or the last
surplus pod was gone (scale-down); the delay is the tool's process exit minus that moment.
A negative delay means the tool returned before the target was reached.
"""

from __future__ import annotations

from collections.abc import Callable

from .common import (
    REAL_NODE_SELECTOR,
    K8S_CORE,
    BenchResult,
    PodWatch,
    Row,
    Timed,
    create_deployment,
    fake_nodes,
    kubeconfig,
    kubectl_scale,
    log,
    median,
    namespace,
    pod_watch,
    run_module,
    scale_watch,
    spread,
)

NAME = "readiness"
NS = "bench-readiness"
DEPLOY = "bench-readiness"
HIGH, LOW = 5, 1
TIMEOUT = 180
# On the real node: Ollama pods Ready by their own HTTP probe, so the moment is the kubelet's, not kwok's.
REAL_NS = "bench-readiness-real"
REAL_HIGH = 3


def k8s_scale(ns: str, name: str, replicas: int, timeout: float) -> Timed:
    # kubernetes.core's defaults (it polls every wait_sleep = 5 s) apart from a timeout long enough for any run.
    args = {"kubeconfig": kubeconfig(), "api_version": "apps/v1", "kind": "Deployment", "namespace": ns, "name": name, "replicas": replicas}
    return run_module(K8S_CORE + "k8s_scale", {**args, "wait": True, "wait_timeout": int(timeout)})


OURS, CORE, KUBECTL = "mlops.ollama.k8s_scale_watch", "kubernetes.core.k8s_scale", "kubectl scale + rollout status"
TOOLS: dict[str, Callable[[str, str, int, float], Timed]] = {OURS: scale_watch, CORE: k8s_scale, KUBECTL: kubectl_scale}


def _transition(watch: PodWatch, tool: Callable[[str, str, int, float], Timed], replicas: int, ns: str = NS) -> tuple[float, Timed, float]:
    """(delay, the tool's run, the moment the target was reached) of one tool scaling to ``replicas``, once the pods settled."""
    mark = watch.mark()
    timed = tool(ns, DEPLOY, replicas, TIMEOUT)
    watch.wait_for(replicas, TIMEOUT)
    reached = watch.reached_at(mark, replicas)
    return timed.ended - reached, timed, reached


def _directions(samples: dict[str, list[float]]) -> str:
    return f"median up {median(samples['up']):+.3f} s, down {median(samples['down']):+.3f} s"


def run(rounds: int) -> BenchResult:
    result = BenchResult(NAME)
    samples: dict[str, dict[str, list[float]]] = {tool: {"up": [], "down": [], "wall": []} for tool in TOOLS}
    # Where k8s_scale_watch's delay goes: its own detection (detected_t) and the process exit after it.
    split: dict[str, list[float]] = {"detected_after_reached": [], "exit_after_detected": []}
    with fake_nodes(HIGH), namespace(NS):
        labels = create_deployment(NS, DEPLOY, LOW)
        with pod_watch(NS, labels) as watch:
            names = list(TOOLS)
            for r in range(rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                for tool in order:
                    up, up_run, up_reached = _transition(watch, TOOLS[tool], HIGH)
                    down, down_run, down_reached = _transition(watch, TOOLS[tool], LOW)
                    samples[tool]["up"].append(up)
                    samples[tool]["down"].append(down)
                    samples[tool]["wall"] += [up_run.wall, down_run.wall]
                    if tool == OURS:
                        for run_, reached in ((up_run, up_reached), (down_run, down_reached)):
                            split["detected_after_reached"].append(run_.result["detected_t"] - reached)
                            split["exit_after_detected"].append(run_.ended - run_.result["detected_t"])
                    log(f"readiness round {r + 1}/{rounds} {tool}: delay up {up:+.3f} s, down {down:+.3f} s")
            result.details["watch_errors"] = watch.errors
    result.details["samples"] = {tool: {k: spread(v) for k, v in s.items()} for tool, s in samples.items()}
    result.details["k8s_scale_watch_delay_split"] = {k: spread(v) for k, v in split.items()}
    ours, core, kubectl = samples[OURS], samples[CORE], samples[KUBECTL]
    core_all = median(core["up"] + core["down"])
    result.rows.append(
        Row.make(
            NAME,
            f"median delay, scale {LOW}->{HIGH}->{LOW} x{rounds}: k8s_scale_watch",
            median(ours["up"] + ours["down"]),
            baseline="kubernetes.core.k8s_scale (wait_sleep 5)",
            baseline_value=core_all,
            max_value=0.5,
            max_ratio=0.2,
            note=f"k8s_scale_watch {_directions(ours)} (of which detection {median(split['detected_after_reached']):.3f} s, "
            f"process exit {median(split['exit_after_detected']):.3f} s); k8s_scale {_directions(core)}",
        )
    )
    result.rows.append(_real_node_row(rounds))
    down = median(kubectl["down"])
    result.rows.append(
        Row.make(
            NAME,
            "median delay after the last pod Ready: kubectl scale + rollout status",
            median(kubectl["up"]),
            baseline="k8s_scale",
            baseline_value=median(core["up"]),
            note=f"scale-down median {down:+.3f} s" + (" (rollout status returned before the surplus pods were gone)" if down < 0 else ""),
        )
    )
    return result


def _real_node_row(rounds: int) -> Row:
    """k8s_scale_watch against k8s_scale scaling Ollama pods on the real node, the pods Ready by their readinessProbe."""
    samples: dict[str, list[float]] = {OURS: [], CORE: []}
    with namespace(REAL_NS):
        labels = create_deployment(REAL_NS, DEPLOY, LOW, real_node=True)
        with pod_watch(REAL_NS, labels) as watch:
            for r in range(rounds):
                for tool in (OURS, CORE) if r % 2 == 0 else (CORE, OURS):
                    up = _transition(watch, TOOLS[tool], REAL_HIGH, REAL_NS)[0]
                    down = _transition(watch, TOOLS[tool], LOW, REAL_NS)[0]
                    samples[tool] += [up]
                    log(f"readiness on the real node, round {r + 1}/{rounds} {tool}: delay up {up:+.3f} s, down {down:+.3f} s")
    return Row.make(
        NAME,
        f"median delay after the last pod Ready by its probe, real node, scale {LOW}->{REAL_HIGH} x{rounds}: k8s_scale_watch",
        median(samples[OURS]),
        baseline="kubernetes.core.k8s_scale (wait_sleep 5)",
        baseline_value=median(samples[CORE]),
        max_value=0.25,
        note=f"Ollama pods of the stack's image on {REAL_NODE_SELECTOR}; k8s_scale_watch samples {[round(x, 3) for x in samples[OURS]]}",
    )

