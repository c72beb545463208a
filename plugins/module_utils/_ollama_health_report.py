# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The result of a health run and its human summary (what the command prints, and the module's ``summary``).

PRIVATE: this file is not part of the collection's public API and may change at
any time (see ``_ollama_health``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health import FAILED, PASSED, SKIPPED, WARNING, format_seconds


@dataclass
class HealthReport:
    url: str
    status: str
    status_code: int
    failed_check: str | None
    message: str
    checks: dict[str, dict[str, Any]]
    version: str | None
    models: list[str]
    api_calls: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "status_code": self.status_code,
            "failed_check": self.failed_check,
            "message": self.message,
            "version": self.version,
            "checks": self.checks,
            "summary": render_summary(self).splitlines(),
            "api_calls": self.api_calls,
        }


# --------------------------------------------------------------------------------------
# The human summary (what the command prints, and the module's summary)
# --------------------------------------------------------------------------------------

_RULE = "=" * 38
_VERDICT = {
    "healthy": "OK",
    "api_unreachable": "API UNREACHABLE",
    "model_missing": "MODEL MISSING",
    "inference_failed": "INFERENCE FAILED",
    "degraded": "DEGRADED",
}
_PROBE_LABEL = {"generate": "Inference", "generate_stream": "Streaming inference", "chat": "Chat inference", "embed": "Embedding inference"}
_TAG = {PASSED: "[PASS]", WARNING: "[WARN]", FAILED: "[FAIL]", SKIPPED: "[SKIP]"}


def _summary_lines(report: HealthReport) -> list[tuple[str, str]]:
    """(outcome, text) per reported line, in check order."""
    checks = report.checks
    lines: list[tuple[str, str]] = []
    api = checks["api"]
    if api["outcome"] == PASSED:
        lines.append((PASSED, f"API endpoint accessible ({report.url})"))
    else:
        lines.append((FAILED, f"API endpoint not accessible ({report.url}): {api.get('error') or api['message']}"))
        return lines

    models = checks["models"]
    for entry in models.get("present", []):
        lines.append((PASSED, f"Model {entry['name']} available (size: {entry['size_human']})"))
    for name in models.get("missing", []):
        lines.append((FAILED, f"Model {name} not available"))

    lines.extend(_inference_lines(checks["inference"]))

    performance = checks["performance"]
    if performance["outcome"] == PASSED:
        lines.append((PASSED, f"Performance OK ({performance['message']})"))
    elif performance["outcome"] == WARNING:
        lines.append((WARNING, f"Performance degraded ({performance['message'].removeprefix('performance degraded: ')})"))

    load = checks["load"]
    if load["outcome"] in (PASSED, WARNING):
        text = (
            f"{load['completed']}/{load['issued']} requests at concurrency {load['concurrency']}: "
            f"p50 {format_seconds(load['p50_s'])} p95 {format_seconds(load['p95_s'])} p99 {format_seconds(load['p99_s'])}, "
            f"{load['failures']} failed, {load['requests_per_s']} req/s"
        )
        lines.append((load["outcome"], f"Load probe {'OK' if load['outcome'] == PASSED else 'degraded'} ({text})"))
    return lines


def _inference_lines(inference: dict[str, Any]) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    results = inference.get("results", [])
    several = len(results) > 1
    for result in results:
        where = f" on {result['model']}" if several else ""
        if result.get("skipped"):
            lines.append((SKIPPED, f"{result['model']}: {result['skipped']}"))
        for probe, record in result["probes"].items():
            label = _PROBE_LABEL.get(probe, probe)
            if record["outcome"] == PASSED:
                extra = f", first token {format_seconds(record['ttft_s'])}" if record.get("ttft_s") is not None else ""
                lines.append((PASSED, f"{label} successful{where} ({format_seconds(record['latency_s'])}{extra})"))
            else:
                lines.append((FAILED, f"{label} failed{where} ({format_seconds(record['latency_s'])}): {record.get('error')}"))
    if inference["message"] and not any(r["probes"] or r.get("skipped") for r in results):
        lines.append((SKIPPED, f"Inference: {inference['message']}"))
    return lines


def render_summary(report: HealthReport) -> str:
    """The human-readable report, with one line per check that ran."""
    lines = _summary_lines(report)
    out = [
        _RULE,
        "  Ollama Health Check",
        _RULE,
        f"  Endpoint: {report.url}",
        f"  Model: {', '.join(report.models) if report.models else '(none)'}",
        _RULE,
        "",
    ]
    out.extend(f"{_TAG[outcome]} {text}" for outcome, text in lines)
    passed = sum(1 for outcome, _text in lines if outcome == PASSED)
    warnings = sum(1 for outcome, _text in lines if outcome == WARNING)
    failed = sum(1 for outcome, _text in lines if outcome == FAILED)
    out += [
        "",
        _RULE,
        "  Summary",
        _RULE,
        "",
        f"Checks passed: {passed}",
        f"Warnings:      {warnings}",
        f"Checks failed: {failed}",
        "",
        f"OLLAMA HEALTH: {_VERDICT[report.status]}",
    ]
    return "\n".join(out) + "\n"
