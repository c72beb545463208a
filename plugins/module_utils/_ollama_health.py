# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Health probes for an Ollama server: options, statuses, exit codes and the small rules they share.

PRIVATE: this file is not part of the collection's public API and may change at
any time. The public surfaces built on it are the ``mlops.ollama.ollama_health``
module and the ``scripts/ollama-health`` command.

The status / exit-code mapping (0 healthy, 1 API unreachable, 2 model missing,
3 inference failed, 4 degraded), the module's options, percentiles and the
parameters live here; the checks themselves are in ``_ollama_health_checks``,
the report and its human summary in ``_ollama_health_report``, the command
line in ``_ollama_health_cli``.

None of these files imports Ansible, and the collection files they import are
only ``_ollama_client``, ``_ollama_names`` and what those import, so the command
runs where only ``python3`` and ``httpx`` are installed (a CronJob, a person's shell).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_names import model_key, parse_model_name

# --------------------------------------------------------------------------------------
# Statuses and their exit codes (what the command returns, and the module's status_code)
# --------------------------------------------------------------------------------------

STATUS_CODES: dict[str, int] = {
    "healthy": 0,
    "api_unreachable": 1,
    "model_missing": 2,
    "inference_failed": 3,
    "degraded": 4,
}
FAILURE_STATUSES: tuple[str, ...] = ("api_unreachable", "model_missing", "inference_failed", "degraded")

# Which status a failed (or warning) check stands for, in the order the checks run.
CHECK_ORDER: tuple[str, ...] = ("api", "models", "inference", "performance", "load")
CHECK_STATUS: dict[str, str] = {
    "api": "api_unreachable",
    "models": "model_missing",
    "inference": "inference_failed",
    "performance": "degraded",
    "load": "degraded",
}

PASSED = "passed"
WARNING = "warning"
FAILED = "failed"
SKIPPED = "skipped"

PROBES: tuple[str, ...] = ("generate", "generate_stream", "chat")
ROOT_BANNER = "Ollama is running"

DEFAULT_PROMPT = "Hello"  # short and fixed, so latencies compare from run to run
DEFAULT_NUM_PREDICT = 16
DEFAULT_MAX_LATENCY_S = 30.0  # a short answer slower than this is a degraded service
DEFAULT_LOAD_REQUESTS = 20
DEFAULT_LOAD_DURATION_S = 60.0

_PREVIEW_CHARS = 80


# The module's own options (the connection options come from the client's CONNECTION_ARGSPEC).
# They live here so the module, its defaults and the command share one definition.
HEALTH_ARGSPEC: dict[str, dict[str, Any]] = {
    "models": {"type": "list", "elements": "str", "default": []},
    "inference_models": {"type": "list", "elements": "str"},
    "probes": {"type": "list", "elements": "str", "choices": list(PROBES), "default": list(PROBES)},
    "prompt": {"type": "str", "default": DEFAULT_PROMPT},
    "num_predict": {"type": "int", "default": DEFAULT_NUM_PREDICT},
    "inference_options": {"type": "dict", "default": {}},
    "max_latency_s": {"type": "float", "default": DEFAULT_MAX_LATENCY_S},
    "min_tokens_per_s": {"type": "float", "no_log": False},  # a rate, not a secret (validate-modules sees "token")
    "concurrency": {"type": "int", "default": 0},
    "requests": {"type": "int", "default": DEFAULT_LOAD_REQUESTS},
    "load_duration_s": {"type": "float", "default": DEFAULT_LOAD_DURATION_S},
    "load_max_failure_rate": {"type": "float", "default": 0.0},
    "fail_on": {"type": "list", "elements": "str", "choices": list(FAILURE_STATUSES), "default": list(FAILURE_STATUSES)},
    "skip_inference_in_check_mode": {"type": "bool", "default": False},
}


# --------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------


def human_size(num_bytes: int | float | None) -> str:
    """Size as the summary prints it (``1321098329`` -> ``1.3G``).

    Decimal units like ``ollama list`` (1.3 GB) with a compact suffix;
    one decimal below 10, whole numbers above.
    """
    if num_bytes is None:
        return "?"
    value = float(num_bytes)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1000 or unit == "T":
            break
        value /= 1000.0
    if unit == "B":
        return f"{int(value)}B"
    if math.floor(value * 10 + 0.5) < 100:
        return f"{math.floor(value * 10 + 0.5) / 10:.1f}{unit}"
    return f"{math.floor(value + 0.5)}{unit}"


def format_seconds(seconds: float | None) -> str:
    """Whole seconds from one second up, as in ``(2s)``; two decimals below (``0.04s``), which says more than ``0s``."""
    if seconds is None:
        return "?"
    if seconds >= 1:
        return f"{math.floor(seconds + 0.5)}s"
    return f"{seconds:.2f}s"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks.

    The same definition as ``numpy.percentile``'s default and Python's
    ``statistics.quantiles(method="inclusive")``; None for no values.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    position = (len(ordered) - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return float(ordered[lower] + (ordered[upper] - ordered[lower]) * fraction)


def tokens_per_second(eval_count: Any, eval_duration_ns: Any) -> float | None:
    """Generation speed from Ollama's ``eval_count`` and ``eval_duration`` (nanoseconds)."""
    if isinstance(eval_count, (int, float)) and isinstance(eval_duration_ns, (int, float)) and eval_count > 0 and eval_duration_ns > 0:
        return round(eval_count / (eval_duration_ns / 1e9), 3)
    return None


def probe_kind(capabilities: Any) -> str:
    """Which probe suits a model, from ``/api/show`` ``capabilities``: ``embedding`` or ``completion``.

    Only a model that embeds and cannot complete gets the embedding probe; a server too old
    to report capabilities gets the completion probes, whose answers then tell.
    """
    if isinstance(capabilities, list) and "embedding" in capabilities and "completion" not in capabilities:
        return "embedding"
    return "completion"


def status_for(checks: dict[str, dict[str, Any]]) -> tuple[str, str | None]:
    """(status, deciding check): the first check, in check order, that did not pass."""
    for name in CHECK_ORDER:
        check = checks.get(name)
        if check and check["outcome"] in (FAILED, WARNING):
            return CHECK_STATUS[name], name
    return "healthy", None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_seconds(param: str, value: Any) -> None:
    """A finite number of seconds above 0 (here, not ``_values``: the command ships only this file, names and client)."""
    if not (_finite(value) and value > 0):
        raise ValueError(f"{param} must be a finite number of seconds greater than 0 (got {value!r})")


def _r(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 4)


def _preview(text: str) -> str:
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 3] + "..."


# --------------------------------------------------------------------------------------
# Parameters and results
# --------------------------------------------------------------------------------------


@dataclass
class HealthParams:
    """What to probe and the thresholds; the module options minus the connection."""

    models: list[str] = field(default_factory=list)
    inference_models: list[str] | None = None
    probes: list[str] = field(default_factory=lambda: list(PROBES))
    prompt: str = DEFAULT_PROMPT
    num_predict: int = DEFAULT_NUM_PREDICT
    inference_options: dict[str, Any] = field(default_factory=dict)
    max_latency_s: float = DEFAULT_MAX_LATENCY_S
    min_tokens_per_s: float | None = None
    concurrency: int = 0
    requests: int = DEFAULT_LOAD_REQUESTS
    load_duration_s: float = DEFAULT_LOAD_DURATION_S
    load_max_failure_rate: float = 0.0
    skip_inference: bool = False
    stall_timeout_s: float = 60.0

    @classmethod
    def from_module_params(cls, params: dict[str, Any], *, check_mode: bool = False) -> HealthParams:
        timeout = params.get("timeout")
        return cls(
            models=list(params.get("models") or []),
            inference_models=list(params["inference_models"]) if params.get("inference_models") is not None else None,
            probes=list(params.get("probes") or []),
            prompt=params.get("prompt", DEFAULT_PROMPT),
            num_predict=params.get("num_predict", DEFAULT_NUM_PREDICT),
            inference_options=dict(params.get("inference_options") or {}),
            max_latency_s=params.get("max_latency_s", DEFAULT_MAX_LATENCY_S),
            min_tokens_per_s=params.get("min_tokens_per_s"),
            concurrency=params.get("concurrency", 0),
            requests=params.get("requests", DEFAULT_LOAD_REQUESTS),
            load_duration_s=params.get("load_duration_s", DEFAULT_LOAD_DURATION_S),
            load_max_failure_rate=params.get("load_max_failure_rate", 0.0),
            skip_inference=bool(check_mode and params.get("skip_inference_in_check_mode")),
            stall_timeout_s=float(timeout) if _finite(timeout) and timeout > 0 else 60.0,
        )

    def validate(self) -> None:
        """Raise ValueError naming the parameter and the fix."""
        for param, names in (("models", self.models), ("inference_models", self.inference_models or [])):
            for index, name in enumerate(names):
                parse_model_name(name, param=f"{param}[{index}]")
        if self.num_predict < 1:
            raise ValueError(f"num_predict must be at least 1 (got {self.num_predict}); it bounds the probe's answer length")
        _check_seconds("max_latency_s", self.max_latency_s)
        _check_seconds("timeout", self.stall_timeout_s)
        if self.min_tokens_per_s is not None and not (_finite(self.min_tokens_per_s) and self.min_tokens_per_s >= 0):
            raise ValueError(f"min_tokens_per_s must be a finite rate, 0 or more (got {self.min_tokens_per_s}); omit it to not judge speed")
        self._validate_load()
        if not self.prompt:
            raise ValueError("prompt must not be empty")
        unknown = [p for p in self.probes if p not in PROBES]
        if unknown:
            raise ValueError(f"probes: unknown probe(s) {', '.join(unknown)}; choose from {', '.join(PROBES)}")
        if "num_predict" in self.inference_options:
            raise ValueError("inference_options must not set num_predict; use the num_predict option")

    def _validate_load(self) -> None:
        if self.concurrency < 0:
            raise ValueError(f"concurrency must be 0 (no load probe) or more (got {self.concurrency})")
        if self.concurrency and self.requests < 1:
            raise ValueError(f"requests must be at least 1 when concurrency is set (got {self.requests})")
        if self.concurrency:
            _check_seconds("load_duration_s", self.load_duration_s)
        if not (_finite(self.load_max_failure_rate) and 0 <= self.load_max_failure_rate <= 1):
            raise ValueError(f"load_max_failure_rate is a fraction between 0 and 1 (got {self.load_max_failure_rate})")

    @property
    def probe_models(self) -> list[str]:
        """Models to run inference on: ``inference_models``, else the first declared model."""
        if self.inference_models is not None:
            return list(self.inference_models)
        return self.models[:1]

    @property
    def expected_models(self) -> list[str]:
        """Every model that must be present: declared ones plus any extra probe models."""
        seen = {model_key(m) for m in self.models}
        extra = [m for m in self.probe_models if model_key(m) not in seen]
        return list(self.models) + extra

    @property
    def options(self) -> dict[str, Any]:
        """The ``options`` sent with every probe: deterministic and short by default."""
        return {"temperature": 0, **self.inference_options, "num_predict": self.num_predict}


@dataclass
class Check:
    """One check's outcome and timing; ``as_dict`` is what lands in ``checks``."""

    name: str
    outcome: str = SKIPPED
    message: str = ""
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.outcome,
            "ok": self.outcome == PASSED,
            "message": self.message,
            "duration_s": round(self.duration_s, 4),
            **self.details,
        }
