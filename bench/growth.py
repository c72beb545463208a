"""3. Scale growth: does the scale module's time grow at most linearly with the replica count?

Across 100 fake nodes, the module scales 1 -> N and back to 1 for N = 10, 100, 1000 (one process per
call, from its start until it returned with the target reached, which for this module is its exit).
The growth exponent b is fitted on the up+down times (t = a * N^b): b = 1 is linear. The 1000-replica
figure is compared with kubectl scale + rollout status reaching the same states (its scale-down
counted until our watch saw the surplus pods gone, since rollout status does not wait for them).
"""

from __future__ import annotations

from collections.abc import Callable

from .common import BenchResult, Row, Timed, create_deployment, fake_nodes, fit_linear, fit_power, kubectl_scale, log, namespace, pod_watch, scale_watch

NAME = "growth"
NS = "bench-growth"
DEPLOY = "bench-growth"
NODES = 100
SIZES = (10, 100, 1000)
TIMEOUT = 600


def run(rounds: int) -> BenchResult:
    del rounds  # one pass per size: a 100-replica pass is long and steady enough on its own
    result = BenchResult(NAME, rounds=1)
    times: dict[int, dict[str, float]] = {}
    with fake_nodes(NODES), namespace(NS):
        labels = create_deployment(NS, DEPLOY, 1)
        with pod_watch(NS, labels) as watch:

            def to_target(tool: Callable[[str, str, int, float], Timed], replicas: int) -> tuple[Timed, float]:
                """The tool's run, and the time from its start until it returned and the target was reached (per our watch)."""
                mark = watch.mark()
                timed = tool(NS, DEPLOY, replicas, TIMEOUT)
                watch.wait_for(replicas, TIMEOUT)
                return timed, max(timed.ended, watch.reached_at(mark, replicas)) - timed.started

            for size in SIZES:
                up, up_s = to_target(scale_watch, size)
                down, down_s = to_target(scale_watch, 1)
                times[size] = {
                    "up": up_s,
                    "down": down_s,
                    "total": up_s + down_s,
                    # Where the time goes: process start-up before the scale request, and the wait after it.
                    "startup_up": up.result["requested_t"] - up.started,
                    "elapsed_up": up.result["elapsed_s"],
                    "startup_down": down.result["requested_t"] - down.started,
                    "elapsed_down": down.result["elapsed_s"],
                    "nodes_used": len({p["node"] for p in up.result["pods"] if p.get("node")}),
                }
                log(f"growth 1->{size}->1: up {up_s:.2f} s, down {down_s:.2f} s, {times[size]['nodes_used']} nodes")
            big = SIZES[-1]
            # kubectl's scale-down returns before the surplus pods are gone: its figure runs until they are.
            k_up = to_target(kubectl_scale, big)[1]
            k_down = to_target(kubectl_scale, 1)[1]
            log(f"growth kubectl 1->{big}->1: up {k_up:.2f} s, down {k_down:.2f} s")
    xs = [float(s) for s in SIZES]
    totals = [times[s]["total"] for s in SIZES]
    exponent = fit_power(xs, totals)
    intercept, slope = fit_linear(xs, totals)
    result.details.update(times=times, kubectl=dict(up=k_up, down=k_down), exponent=exponent, linear_fit={"intercept_s": intercept, "per_replica_s": slope})
    small = times[SIZES[0]]["total"]
    for size in SIZES:
        t = times[size]
        if size == big:
            result.rows.append(
                Row.make(
                    NAME,
                    f"scale 1->{size}->1 across {NODES} nodes: k8s_scale_watch (up {t['up']:.1f} s + down {t['down']:.1f} s)",
                    t["total"],
                    baseline="kubectl scale + rollout status",
                    baseline_value=k_up + k_down,
                    max_value=120,
                    note=f"kubectl up {k_up:.1f} s + down {k_down:.1f} s, the scale-down counted until the surplus pods were gone",
                )
            )
        else:
            result.rows.append(
                Row.make(
                    NAME,
                    f"scale 1->{size}->1: k8s_scale_watch (up {t['up']:.1f} s + down {t['down']:.1f} s)",
                    t["total"],
                    baseline=f"N={SIZES[0]}",
                    baseline_value=small,
                )
            )
    result.rows.append(
        Row.make(
            NAME,
            f"growth exponent b of t = a*N^b, N = {', '.join(map(str, SIZES))}",
            exponent,
            unit="",
            baseline="linear (b = 1)",
            baseline_value=1.0,
            max_value=1.0,
            note=f"linear fit: {intercept:.2f} s + {slope * 1000:.1f} ms per replica",
        )
    )
    return result
