"""4. Model pull: the collection's ollama_model module vs the ollama pull CLI, and the cost of a no-op sync.

Each round, for each tool (order alternating), our Ollama restarts on an empty models directory
and the tool pulls the two tiny models from the stack's registry, one process per model. Also
timed each round: a bare Ansible module process (ansible.builtin.ping), which is the start-up
every Python module pays before its first line of work. Requests are counted in Ollama's own
log (one [GIN] line per request that reached it), not in the module.
"""

from __future__ import annotations

from .common import MLOPS, BenchResult, ExtraOllama, Row, extra_ollama, log, median, ollama_binary, run_module, run_timed, spread, stack_env, tool_env

NAME = "pull"
MODELS = ("mlops/tiny-a:latest", "mlops/tiny-b:latest")
PING = "ansible.modules.ping"


def _names() -> list[str]:
    registry = stack_env()["MLOPS_REGISTRY"]
    return [f"{registry}/{m}" for m in MODELS]


def pull_module(server: ExtraOllama) -> tuple[float, float]:
    """(wall, in-process duration) of the module pulling every model, a process per model."""
    wall = inner = 0.0
    for name in _names():
        timed = run_module(MLOPS + "ollama_model", {"url": server.url, "name": name, "insecure": True})
        if not timed.result.get("changed"):
            raise RuntimeError(f"ollama_model did not pull {name} into an empty Ollama: {timed.result.get('reason')}")
        wall += timed.wall
        inner += timed.result["duration_s"]
    return wall, inner


def pull_cli(server: ExtraOllama) -> tuple[float, float]:
    wall = 0.0
    for name in _names():
        wall += run_timed([ollama_binary(), "pull", "--insecure", name], env=tool_env({"OLLAMA_HOST": server.host})).wall
    return wall, wall


OURS, CLI = "mlops.ollama.ollama_model", "ollama pull"
TOOLS = {OURS: pull_module, CLI: pull_cli}


def run(rounds: int) -> BenchResult:
    result = BenchResult(NAME)
    walls: dict[str, list[float]] = {t: [] for t in TOOLS}
    inner: list[float] = []
    pings: list[float] = []
    requests: dict[str, list[str]] = {}
    with extra_ollama("bench-pull") as server:
        for r in range(rounds):
            order = list(TOOLS) if r % 2 == 0 else list(TOOLS)[::-1]
            for tool in order:
                server.wipe()
                (wall, in_process), lines = server.count_requests(lambda t=tool: TOOLS[t](server))
                walls[tool].append(wall)
                requests[tool] = lines
                if tool == OURS:
                    inner.append(in_process)
                log(f"pull round {r + 1}/{rounds} {tool}: {wall:.3f} s, {len(lines)} requests")
            pings.append(run_module(PING, {}).wall)
        # Both models are present now: a sync that declares them has nothing to do.
        noop, noop_lines = server.count_requests(lambda: run_module(MLOPS + "ollama_models", {"url": server.url, "models": _names(), "insecure": True}))
        _, list_lines = server.count_requests(lambda: run_timed([ollama_binary(), "list"], env=tool_env({"OLLAMA_HOST": server.host})))
    ours, cli = walls[OURS], walls[CLI]
    result.details.update(
        wall_s={t: spread(v) for t, v in walls.items()},
        module_in_process_s=spread(inner),
        bare_module_process_s=spread(pings),
        requests_of_last_round=requests,
        noop_sync={"changed": noop.result["changed"], "requests": noop_lines, "wall_s": noop.wall},
        ollama_list_requests=list_lines,
    )
    n = len(MODELS)
    startup = median(pings) * n
    result.rows += [
        Row.make(
            NAME,
            f"pull {n} tiny models into an empty Ollama, a process per model: ollama_model",
            median(ours),
            baseline="ollama pull",
            baseline_value=median(cli),
            max_ratio=1.10,
        ),
        Row.make(
            NAME,
            "  the same, module's own time (in-process duration_s)",
            median(inner),
            baseline="ollama pull",
            baseline_value=median(cli),
            max_ratio=1.10,
        ),
        Row.make(
            NAME,
            f"  the same, minus {n} bare Ansible module start-ups (ping, {median(pings):.3f} s each)",
            median(ours) - startup,
            baseline="ollama pull",
            baseline_value=median(cli),
            max_ratio=1.10,
        ),
        Row.make(
            NAME,
            f"requests of a no-op sync of {n} present models: ollama_models",
            len(noop_lines),
            unit="",
            baseline="ollama list",
            baseline_value=len(list_lines),
            equals=1,
            note=f"changed={noop.result['changed']}",
        ),
    ]
    return result
