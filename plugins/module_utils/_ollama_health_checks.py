# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health checks, in order: API, models, inference, performance, optional load probe; and the module's body.

PRIVATE: this file is not part of the collection's public API and may change at
any time (see ``_ollama_health``). A checker never changes anything on the server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import OllamaClient, OllamaError
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health import (
    CHECK_ORDER,
    FAILED,
    PASSED,
    ROOT_BANNER,
    SKIPPED,
    STATUS_CODES,
    WARNING,
    Check,
    HealthParams,
    _preview,
    _r,
    format_seconds,
    human_size,
    percentile,
    probe_kind,
    status_for,
    tokens_per_second,
)
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health_report import HealthReport
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_names import find_model, model_key

if TYPE_CHECKING:  # pragma: no cover - typing only; the command line never imports the module runner
    from ansible_collections.mlops.ollama.plugins.module_utils._ollama_module import ModuleRun

_MAX_LOAD_ERRORS_KEPT = 5


class _InferenceError(Exception):
    """A probe that got an answer which is not a healthy one (empty, no ``done``)."""


def _single(answer: dict[str, Any] | Iterator[dict[str, Any]]) -> dict[str, Any]:
    """A non-streaming call's answer (the client types both modes as one union)."""
    if not isinstance(answer, dict):
        _close(answer)
        raise _InferenceError("expected one JSON answer, got a stream")
    return answer


def _chunks(answer: dict[str, Any] | Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """A streaming call's chunks."""
    return iter([answer]) if isinstance(answer, dict) else answer


def _close(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if callable(close):
        close()


class HealthChecker:
    """Runs the checks in order against one Ollama endpoint. Never changes anything.

    ``load_client`` serves the load probe; give it a client without retries so
    failures under load are counted, not retried away (defaults to ``client``).
    A separate load client opens a new connection for each request.
    """

    def __init__(
        self,
        client: OllamaClient,
        params: HealthParams,
        *,
        url: str = "",
        load_client: OllamaClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.params = params
        # The client's endpoint has any user:password@ removed; it is what reports show.
        self.url = str(getattr(client, "endpoint", "") or url)
        self.load_client = load_client or client
        if load_client is not None:
            # Each load request on a new connection, as clients arriving during a rollout make them. A Service moves
            # new connections off a stopping pod; a kept-alive one stays with it until Ollama, on SIGTERM, drops it
            # mid-request, which no drain in front of the pod can prevent.
            load_client.keep_alive = False
        self.clock = clock
        self.version: str | None = None
        # Successful probes, for the performance check: (model, probe, record).
        self._samples: list[tuple[str, str, dict[str, Any]]] = []
        # model -> "completion" | "embedding", for the load probe.
        self._kinds: dict[str, str] = {}
        # Normalized names of the expected models the server lists.
        self._present: set[str] = set()

    # -- orchestration -----------------------------------------------------------------

    def run(self) -> HealthReport:
        checks: dict[str, Check] = {}
        checks["api"] = self._timed("api", self.check_api)
        if checks["api"].outcome == FAILED:
            for name in CHECK_ORDER[1:]:
                checks[name] = Check(name, SKIPPED, "skipped: the API is unreachable")
        else:
            checks["models"] = self._timed("models", self.check_models)
            checks["inference"] = self._timed("inference", self.check_inference)
            checks["performance"] = self._timed("performance", self.check_performance)
            checks["load"] = self._timed("load", self.check_load)
        as_dicts = {name: checks[name].as_dict() for name in CHECK_ORDER}
        status, deciding = status_for(as_dicts)
        if deciding is None:
            skipped = [name for name in CHECK_ORDER if as_dicts[name]["outcome"] == SKIPPED]
            message = "all checks passed" + (f" ({', '.join(skipped)} skipped)" if skipped else "")
        else:
            message = f"check '{deciding}' {'failed' if as_dicts[deciding]['outcome'] == FAILED else 'warned'}: {as_dicts[deciding]['message']}"
        return HealthReport(
            url=self.url,
            status=status,
            status_code=STATUS_CODES[status],
            failed_check=deciding,
            message=message,
            checks=as_dicts,
            version=self.version,
            models=self.params.expected_models,
            api_calls=list(getattr(self.client, "requests_made", [])),
        )

    def _timed(self, name: str, func: Callable[[Check], None]) -> Check:
        check = Check(name)
        start = self.clock()
        try:
            func(check)
        finally:
            check.duration_s = self.clock() - start
        return check

    # -- 1. API reachable ------------------------------------------------------------

    def check_api(self, check: Check) -> None:
        start = self.clock()
        try:
            self.version = self.client.version()
            version_s = self.clock() - start
            root_start = self.clock()
            banner = self.client.root_text().strip()
            root_s = self.clock() - root_start
        except OllamaError as exc:
            check.outcome = FAILED
            check.message = f"API endpoint not accessible: {exc}"
            check.details.update({"version": self.version, "error": str(exc), "error_type": type(exc).__name__})
            return
        check.details.update({"version": self.version, "version_s": _r(version_s), "root_s": _r(root_s), "root_text": _preview(banner)})
        if banner != ROOT_BANNER:
            check.outcome = FAILED
            check.message = f"GET / answered {banner[:60]!r}, not {ROOT_BANNER!r}: is url pointing at an Ollama server?"
            return
        check.outcome = PASSED
        check.message = f"API endpoint accessible (version {self.version})"

    # -- 2. Expected models present -------------------------------------------------

    def check_models(self, check: Check) -> None:
        expected = self.params.expected_models
        check.details.update({"expected": expected, "present": [], "missing": []})
        if not expected:
            check.outcome = SKIPPED
            check.message = "no model declared (set models to check presence)"
            return
        try:
            tags = self.client.tags()
        except OllamaError as exc:
            check.outcome = FAILED
            check.message = f"could not list models: {exc}"
            check.details["missing"] = expected
            check.details["error"] = str(exc)
            return
        check.details["available"] = len(tags)
        for name in expected:
            entry = find_model(tags, name)
            if entry is None:
                check.details["missing"].append(name)
                continue
            self._present.add(model_key(name))
            check.details["present"].append(
                {
                    "name": name,
                    "tag": entry.get("name") or entry.get("model"),
                    "size": entry.get("size"),
                    "size_human": human_size(entry.get("size")),
                    "digest": entry.get("digest"),
                    "modified_at": entry.get("modified_at"),
                }
            )
        if check.details["missing"]:
            check.outcome = FAILED
            check.message = f"model(s) not available: {', '.join(check.details['missing'])}"
        else:
            check.outcome = PASSED
            check.message = f"{len(expected)} model(s) available"

    # -- 3. Inference ------------------------------------------------------------------

    def check_inference(self, check: Check) -> None:
        results: list[dict[str, Any]] = []
        check.details.update({"prompt": self.params.prompt, "options": self.params.options, "results": results})
        models = self.params.probe_models
        if not models:
            check.message = "no model to probe (set models or inference_models)"
            return
        if self.params.skip_inference:
            check.message = "skipped in check mode (skip_inference_in_check_mode)"
            return
        failures: list[str] = []
        for model in models:
            result: dict[str, Any] = {"model": model, "capabilities": None, "probes": {}}
            results.append(result)
            if model_key(model) not in self._present:
                result["skipped"] = "model not available"
                continue
            kind = self._probe_kind(model, result)
            self._kinds[model] = kind
            if kind == "embedding":
                result["skipped"] = "generate and chat probes skipped: embedding-only model; probed /api/embed instead"
                names = ["embed"]
            else:
                names = list(self.params.probes)
            for probe in names:
                record = self._run_probe(model, probe)
                result["probes"][probe] = record
                if record["outcome"] == FAILED:
                    failures.append(f"{model} {probe}: {record['error']}")
                else:
                    self._samples.append((model, probe, record))
        ran = sum(len(r["probes"]) for r in results)
        if failures:
            check.outcome = FAILED
            check.message = "; ".join(failures)
        elif ran == 0:
            check.outcome = SKIPPED
            check.message = "no probe ran: " + "; ".join(f"{r['model']}: {r.get('skipped')}" for r in results)
        else:
            check.outcome = PASSED
            check.message = f"{ran} probe(s) answered"

    def _probe_kind(self, model: str, result: dict[str, Any]) -> str:
        """``completion`` or ``embedding``, from ``/api/show`` capabilities."""
        try:
            capabilities = self.client.show(model).get("capabilities")
        except OllamaError as exc:
            # An old server or a proxy without /api/show: the probes themselves will tell.
            result["capabilities_error"] = str(exc)
            return "completion"
        if isinstance(capabilities, list):
            result["capabilities"] = capabilities
        return probe_kind(capabilities)

    def _run_probe(self, model: str, probe: str) -> dict[str, Any]:
        start = self.clock()
        record: dict[str, Any] = {"outcome": FAILED}
        try:
            if probe == "generate_stream":
                self._stream_generate(model, record, start)
            elif probe == "embed":
                response = self.client.request_json("POST", "/api/embed", {"model": model, "input": self.params.prompt}, model=model)
                embeddings = response.get("embeddings") or []
                if not embeddings or not embeddings[0]:
                    raise _InferenceError("the embedding is empty")
                record["dimensions"] = len(embeddings[0])
            else:
                if probe == "chat":
                    response = _single(self.client.chat(model, [{"role": "user", "content": self.params.prompt}], stream=False, options=self.params.options))
                    message = response.get("message") or {}
                    text = str(message.get("content") or "") + str(message.get("thinking") or "")
                else:
                    response = _single(self.client.generate(model, self.params.prompt, stream=False, options=self.params.options))
                    text = str(response.get("response") or "") + str(response.get("thinking") or "")
                self._record_answer(record, response, text)
        except (OllamaError, _InferenceError) as exc:
            record["error"] = str(exc)
            record["error_type"] = type(exc).__name__
        else:
            record["outcome"] = PASSED
        record["latency_s"] = _r(self.clock() - start)
        return record

    def _stream_generate(self, model: str, record: dict[str, Any], start: float) -> None:
        # ``timeout`` of a streaming call is its stall watchdog: no chunk for that long is an OllamaTimeout.
        stream = _chunks(self.client.generate(model, self.params.prompt, stream=True, options=self.params.options, timeout=self.params.stall_timeout_s))
        parts: list[str] = []
        final: dict[str, Any] | None = None
        chunks = 0
        record["ttft_s"] = None
        try:
            for chunk in stream:
                chunks += 1
                piece = str(chunk.get("response") or "") + str(chunk.get("thinking") or "")
                if piece and record["ttft_s"] is None:
                    record["ttft_s"] = _r(self.clock() - start)
                parts.append(piece)
                if chunk.get("done") is True:
                    final = chunk
                    break
        finally:
            _close(stream)
        record["chunks"] = chunks
        if final is None:
            record["done"] = False
            raise _InferenceError(f"the stream ended after {chunks} chunk(s) without done: true")
        self._record_answer(record, final, "".join(parts))

    @staticmethod
    def _record_answer(record: dict[str, Any], response: dict[str, Any], text: str) -> None:
        record.update(
            {
                "done": response.get("done"),
                "done_reason": response.get("done_reason"),
                "response_chars": len(text),
                "response_preview": _preview(text),
                "eval_count": response.get("eval_count"),
                "eval_duration_s": _r(response["eval_duration"] / 1e9) if isinstance(response.get("eval_duration"), (int, float)) else None,
                "total_duration_s": _r(response["total_duration"] / 1e9) if isinstance(response.get("total_duration"), (int, float)) else None,
                "tokens_per_s": tokens_per_second(response.get("eval_count"), response.get("eval_duration")),
            }
        )
        if response.get("done") is not True:
            raise _InferenceError("the answer did not end with done: true")
        if not text.strip():
            raise _InferenceError(f"the answer is empty (done_reason: {response.get('done_reason')}, eval_count: {response.get('eval_count')})")

    # -- 4. Performance --------------------------------------------------------------

    def check_performance(self, check: Check) -> None:
        p = self.params
        check.details.update({"max_latency_s": p.max_latency_s, "min_tokens_per_s": p.min_tokens_per_s})
        if not self._samples:
            check.message = "no successful inference to measure"
            return
        worst_model, worst_probe, worst = max(self._samples, key=lambda s: s[2]["latency_s"])
        ttfts = [rec["ttft_s"] for _model, probe, rec in self._samples if probe == "generate_stream" and rec.get("ttft_s") is not None]
        speeds = [rec["tokens_per_s"] for _model, _probe, rec in self._samples if rec.get("tokens_per_s")]
        check.details.update(
            {
                "latency_s": worst["latency_s"],
                "slowest": f"{worst_model} {worst_probe}",
                "latencies": {f"{m} {probe}": rec["latency_s"] for m, probe, rec in self._samples},
                "ttft_s": max(ttfts) if ttfts else None,
                "tokens_per_s": min(speeds) if speeds else None,
            }
        )
        problems = []
        if worst["latency_s"] > p.max_latency_s:
            problems.append(f"{worst_model} {worst_probe} took {worst['latency_s']:.3f}s > max_latency_s {p.max_latency_s:g}s")
        if p.min_tokens_per_s is not None and speeds and min(speeds) < p.min_tokens_per_s:
            problems.append(f"{min(speeds):.1f} tokens/s < min_tokens_per_s {p.min_tokens_per_s:g}")
        if problems:
            check.outcome = WARNING
            check.message = "performance degraded: " + "; ".join(problems)
        else:
            check.outcome = PASSED
            speed = f", {min(speeds):.1f} tokens/s" if speeds else ""
            check.message = f"slowest probe {worst['latency_s']:.3f}s <= {p.max_latency_s:g}s{speed}"

    # -- 5. Load probe ---------------------------------------------------------------

    def check_load(self, check: Check) -> None:
        p = self.params
        model = self._load_model(check)
        if model is None:
            return
        embed = self._kinds.get(model) == "embedding"
        check.details.update(
            {
                "model": model,
                "endpoint": "/api/embed" if embed else "/api/generate",
                "concurrency": p.concurrency,
                "requests": p.requests,
                "load_duration_s": p.load_duration_s,
            }
        )
        start = self.clock()
        issued, latencies, errors = self._load(lambda: self._one_load_request(model, embed), deadline=start + p.load_duration_s)
        self._judge_load(check, issued, latencies, errors, wall=self.clock() - start)

    def _load_model(self, check: Check) -> str | None:
        """The model the load probe runs on, or ``None`` with the reason in ``check``."""
        p = self.params
        if p.concurrency <= 0:
            check.message = "not requested (concurrency: 0)"
            return None
        if p.skip_inference:
            check.message = "skipped in check mode (skip_inference_in_check_mode)"
            return None
        models = [m for m in p.probe_models if model_key(m) in self._present]
        if not models:
            check.message = "no available model to load"
            return None
        return models[0]

    def _one_load_request(self, model: str, embed: bool) -> None:
        p = self.params
        if embed:
            response = self.load_client.request_json("POST", "/api/embed", {"model": model, "input": p.prompt}, model=model)
            if not (response.get("embeddings") or [[]])[0]:
                raise _InferenceError("the embedding is empty")
            return
        response = _single(self.load_client.generate(model, p.prompt, stream=False, options=p.options))
        text = str(response.get("response") or "") + str(response.get("thinking") or "")
        if response.get("done") is not True or not text.strip():
            raise _InferenceError("empty or unfinished answer")

    def _load(self, one_request: Callable[[], None], *, deadline: float) -> tuple[int, list[float], list[str]]:
        """``requests`` calls from ``concurrency`` threads, none started after ``deadline``: (issued, latencies, errors)."""
        p = self.params
        lock = threading.Lock()
        issued = 0
        latencies: list[float] = []
        errors: list[str] = []

        def worker() -> None:
            nonlocal issued
            while True:
                with lock:
                    # Bounded by count and by time: no request starts after the deadline.
                    if issued >= p.requests or self.clock() >= deadline:
                        return
                    issued += 1
                t0 = self.clock()
                try:
                    one_request()
                except Exception as exc:  # noqa: BLE001 - a probe counts every failure, it does not crash
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                else:
                    with lock:
                        latencies.append(self.clock() - t0)

        with ThreadPoolExecutor(max_workers=p.concurrency, thread_name_prefix="ollama-load") as pool:
            for future in [pool.submit(worker) for _worker in range(p.concurrency)]:
                future.result()
        return issued, latencies, errors

    def _judge_load(self, check: Check, issued: int, latencies: list[float], errors: list[str], *, wall: float) -> None:
        p = self.params
        failures = len(errors)
        failure_rate = failures / issued if issued else 0.0
        p95 = percentile(latencies, 95)
        check.details.update(
            {
                "completed": len(latencies),
                "issued": issued,
                "failures": failures,
                "failure_rate": round(failure_rate, 4),
                "errors": errors[:_MAX_LOAD_ERRORS_KEPT],
                "stopped_by": "requests" if issued >= p.requests else "time",
                "wall_s": _r(wall),
                "requests_per_s": round(len(latencies) / wall, 3) if wall > 0 else None,
                "p50_s": _r(percentile(latencies, 50)),
                "p95_s": _r(p95),
                "p99_s": _r(percentile(latencies, 99)),
                "max_s": _r(max(latencies)) if latencies else None,
            }
        )
        problems = []
        if failure_rate > p.load_max_failure_rate or not latencies:
            problems.append(f"{failures} of {issued} request(s) failed (max failure rate {p.load_max_failure_rate:g})")
        if p95 is not None and p95 > p.max_latency_s:
            problems.append(f"p95 {p95:.3f}s > max_latency_s {p.max_latency_s:g}s")
        if problems:
            check.outcome = WARNING
            check.message = "degraded under load: " + "; ".join(problems)
        else:
            check.outcome = PASSED
            check.message = f"{len(latencies)} request(s) at concurrency {p.concurrency}, p95 {format_seconds(p95)}, {failures} failure(s)"


# --------------------------------------------------------------------------------------
# The Ansible module's body (run by _ollama_module.run_ollama_module; nothing here imports Ansible)
# --------------------------------------------------------------------------------------


def prepare_health(params: dict[str, Any], check_mode: bool) -> HealthParams:
    """``mlops.ollama.ollama_health``'s own options, checked before any request."""
    health = HealthParams.from_module_params(params, check_mode=check_mode)
    health.validate()
    return health


def execute_health(run: ModuleRun, params: HealthParams) -> dict[str, Any]:
    """Run the checks; fail when the verdict is one of ``fail_on``, else warn about a non-healthy one."""
    # The load probe counts failures, so its requests are never retried.
    load_client = run.another_client(retries=0) if params.concurrency else None
    report = HealthChecker(run.client, params, url=run.params["url"], load_client=load_client).run()
    result = {"changed": False, **report.as_dict()}
    if report.status != "healthy":
        text = f"Ollama health at {report.url} is {report.status} (code {report.status_code}): {report.message}"
        if report.status in run.params["fail_on"]:
            run.fail(text, **result)
        run.warn(text)
    result["msg"] = f"Ollama health at {report.url}: {report.status}" + ("" if report.status == "healthy" else f" ({report.message})")
    return result
