# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scaling drill's report: key figures, JSON, Markdown and an SVG timeline of every pod.

PRIVATE: this file may change at any time; the public surface is the scale_drill_report module.

Input is what the scale_validate role collected: the k8s_scale_watch results of the
scale-up and the scale-down (their per-pod timelines), k8s_pod_logs and k8s_events
results, the ollama_health probe and the request loop, and the drill's outcome.
"""

from __future__ import annotations

import datetime
import json
import os
import stat
import tempfile
from html import escape
from typing import Any, Mapping

PHASES = ("created", "scheduled", "running", "ready", "deletion_requested", "gone")

# Segment colours: a phase starts at its time and lasts until the next phase that happened.
SEGMENTS = (
    ("created", "Pending (not scheduled)", "#b8c0cc"),
    ("scheduled", "Scheduled, starting", "#f4b942"),
    ("running", "Running, not Ready", "#7fb7e6"),
    ("ready", "Ready", "#2a9d6f"),
    ("not_ready", "NotReady", "#9b7fd1"),
    ("deletion_requested", "Terminating", "#e4572e"),
)
COLOURS = {key: colour for key, _label, colour in SEGMENTS}
REPORT_ARGSPEC: dict[str, Any] = {
    "dest": {"type": "path", "required": True},
    "basename": {"type": "str", "default": "scale-drill"},
    "formats": {"type": "list", "elements": "str", "default": ["json", "markdown", "svg"], "choices": ["json", "markdown", "svg"]},
    "drill": {"type": "dict", "required": True},
    # The report holds the endpoint, pod and node names, log lines and events: readable by its owner only.
    "mode": {"type": "raw", "default": "0600"},
}


class ReportError(Exception):
    """The report could not be written."""


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _num(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def merge_pods(*runs: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One timeline per pod across several k8s_scale_watch results: a time seen on a watch beats one from the server."""
    merged: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for run in runs:
        for pod in (run or {}).get("pods") or []:
            name = pod.get("name")
            if name not in merged:
                merged[name] = {"name": name, "node": pod.get("node"), "pre_existing": bool(pod.get("pre_existing")), "t": {}, "src": {}}
                order.append(name)
            rec = merged[name]
            rec["node"] = pod.get("node") or rec["node"]
            for key in ("forced", "termination_s", "gone_within_grace", "deletion_grace_period_s", "grace_period_s", "last_condition", "phase", "ready_now"):
                if pod.get(key) is not None:
                    rec[key] = pod[key]
            for phase in PHASES + ("not_ready",):
                t = _num(pod.get(f"{phase}_t"))
                if t is None:
                    continue
                src = (pod.get("sources") or {}).get(phase, "watch")
                old = rec["t"].get(phase)
                if old is None or (rec["src"].get(phase) == "server" and src != "server"):
                    rec["t"][phase] = t
                    rec["src"][phase] = src
    out = []
    for name in order:
        rec = merged[name]
        # A pod that was Ready, went NotReady because it was deleted, is 'terminating', not 'not ready'.
        nr, dr = rec["t"].get("not_ready"), rec["t"].get("deletion_requested")
        if nr is not None and dr is not None and nr >= dr - 0.001:
            rec["t"].pop("not_ready")
        out.append(rec)
    return out


def restore_parts(drill: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The replica and HPA parts of the restore (empty when the caller did not say)."""
    restore = drill.get("restore") or {}
    return dict(restore.get("replicas") or {}), dict(restore.get("hpa") or {})


def _restored(drill: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """(overall, replicas, hpa) restored flags; the HPA's is None when there was none to restore."""
    replicas, hpa = restore_parts(drill)
    rep = replicas.get("restored")
    hpa_ok = hpa.get("restored") if hpa.get("pinned") else None
    if not replicas:
        return drill.get("restored"), None, hpa_ok
    overall = bool(rep) and hpa_ok is not False
    return overall, bool(rep), hpa_ok


def summarise(drill: Mapping[str, Any]) -> dict[str, Any]:
    """The key figures, for set_stats and the top of every report."""
    up = drill.get("scale_up") or {}
    down = drill.get("scale_down") or {}
    pods = merge_pods(up, down)
    new_pods = [p for p in pods if not p["pre_existing"]]
    ready_after = [p["t"]["ready"] - p["t"]["created"] for p in new_pods if "ready" in p["t"] and "created" in p["t"]]
    deleted = [p for p in pods if p["t"].get("deletion_requested") is not None]
    loop = drill.get("request_loop") or {}
    load = ((loop.get("checks") or {}).get("load")) or loop
    events = drill.get("events") or {}
    health = drill.get("health") or {}
    logs = drill.get("logs") or {}
    restored, replicas_restored, hpa_restored = _restored(drill)
    return {
        "outcome": drill.get("outcome", "unknown"),
        "failed_step": drill.get("failed_step"),
        "namespace": drill.get("namespace"),
        "deployment": drill.get("deployment"),
        "replicas_before": drill.get("replicas_before"),
        "replicas_target": drill.get("replicas_target"),
        "replicas_after": drill.get("replicas_after"),
        "restored": restored,
        "replicas_restored": replicas_restored,
        "hpa_restored": hpa_restored,
        "scale_up_s": _num(up.get("elapsed_s")),
        "scale_down_s": _num(down.get("elapsed_s")),
        "new_pods": len(new_pods),
        "ready_after_s_max": round(max(ready_after), 3) if ready_after else None,
        "ready_after_s_min": round(min(ready_after), 3) if ready_after else None,
        "pods_terminated": len(deleted),
        "terminations_graceful": len([p for p in deleted if p.get("gone_within_grace") and not p.get("forced")]),
        "terminations_forced": len([p for p in deleted if p.get("forced")]),
        "termination_s_max": max((p.get("termination_s") or 0 for p in deleted), default=None),
        "request_loop_requests": load.get("completed", load.get("issued")),
        "request_loop_failures": load.get("failures"),
        "health_status": health.get("status"),
        "events_missing": events.get("missing_reasons"),
        "startup_logged_in_all_pods": (logs.get("startup") or {}).get("matched"),
        "inference_logged": (logs.get("inference") or {}).get("matched"),
        "watch_reconnects": sum(int(w.get("reconnects", 0)) for run in (up, down) for w in (run.get("watch") or {}).values()),
        "detection_lag_s_max": max((x for x in (_num(up.get("detection_lag_s")), _num(down.get("detection_lag_s"))) if x is not None), default=None),
    }


# ------------------------------------------------------------------------------------------------
# SVG
# ------------------------------------------------------------------------------------------------
def render_svg(drill: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    up = drill.get("scale_up") or {}
    down = drill.get("scale_down") or {}
    pods = merge_pods(up, down)
    start = _num(drill.get("started_t")) or _num(up.get("started_t")) or min((min(p["t"].values()) for p in pods if p["t"]), default=0.0)
    markers = [
        (_num(up.get("requested_t")), "scale-up requested", "#1d3557"),
        (_num(up.get("detected_t")), "all Ready", "#2a9d6f"),
        (_num(down.get("requested_t")), "scale-down requested", "#1d3557"),
        (_num(down.get("detected_t")), "surplus gone", "#e4572e"),
    ]
    ends = [t for p in pods for t in p["t"].values()] + [m[0] for m in markers if m[0]] + [_num(drill.get("finished_t")) or 0]
    end = max([t for t in ends if t] + [start + 1.0])
    span = max(end - start, 1.0) * 1.04
    left, right, top, row_h = 300, 30, 92, 30
    width = 1100
    plot_w = width - left - right
    height = top + row_h * max(len(pods), 1) + 110

    def x(t: float) -> float:
        return left + max(0.0, min(1.0, (t - start) / span)) * plot_w

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    replicas = f"{drill.get('replicas_before')} → {drill.get('replicas_target')} → {drill.get('replicas_after', drill.get('replicas_before'))}"
    title = f"Scaling drill {drill.get('namespace', '')}/{drill.get('deployment', '')}: {replicas}"
    outcome = str(summary.get("outcome", "unknown"))
    colour = "#2a9d6f" if outcome == "passed" else "#e4572e"
    out.append(f'<text x="20" y="28" font-size="18" font-weight="bold">{escape(title)}</text>')
    out.append(f'<text x="{width - right}" y="28" font-size="16" font-weight="bold" text-anchor="end" fill="{colour}">{escape(outcome.upper())}</text>')
    sub = f"started {escape(str(_iso(start)))}"
    if summary.get("scale_up_s") is not None:
        sub += f" · scale-up {summary['scale_up_s']:.2f} s"
    if summary.get("scale_down_s") is not None:
        sub += f" · scale-down {summary['scale_down_s']:.2f} s"
    if summary.get("request_loop_failures") is not None:
        sub += f" · request loop failures {summary['request_loop_failures']}"
    out.append(f'<text x="20" y="50" fill="#444">{sub}</text>')
    # Axis with ticks in seconds since the start.
    step = next(s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 1e9) if span / s <= 12)
    axis_y = top - 12
    bottom = top + row_h * max(len(pods), 1)
    tick = 0.0
    while tick <= span:
        tx = x(start + tick)
        out.append(f'<line x1="{tx:.1f}" y1="{axis_y}" x2="{tx:.1f}" y2="{bottom}" stroke="#e6e6e6"/>')
        out.append(f'<text x="{tx:.1f}" y="{axis_y - 4}" text-anchor="middle" fill="#666">{tick:g} s</text>')
        tick += step
    for i, pod in enumerate(pods):
        y = top + i * row_h
        if i % 2:
            out.append(f'<rect x="0" y="{y}" width="{width}" height="{row_h}" fill="#f7f7f9"/>')
        label = f"{pod['name']}"
        node = pod.get("node") or "unscheduled"
        out.append(f'<text x="20" y="{y + 13}" font-weight="bold">{escape(label)}</text>')
        extra = " · existed before" if pod["pre_existing"] else ""
        if pod.get("forced"):
            extra += " · FORCED delete"
        elif pod.get("termination_s") is not None:
            extra += f" · gone {pod['termination_s']:.1f} s after delete"
        out.append(f'<text x="20" y="{y + 25}" fill="#666" font-size="10">{escape(node + extra)}</text>')
        times = sorted(((t, phase) for phase, t in pod["t"].items() if phase != "gone"), key=lambda item: item[0])
        gone = pod["t"].get("gone")
        for j, (t, phase) in enumerate(times):
            nxt = times[j + 1][0] if j + 1 < len(times) else (gone if gone is not None else end)
            if phase == "not_ready" and pod["t"].get("ready") is not None and nxt is None:
                nxt = end
            x0, x1 = x(t), x(nxt)
            if x1 - x0 < 1.5:
                x1 = x0 + 1.5
            label_phase = next((lbl for key, lbl, _colour in SEGMENTS if key == phase), phase)
            out.append(
                f'<rect x="{x0:.1f}" y="{y + 6}" width="{x1 - x0:.1f}" height="{row_h - 12}" rx="3" fill="{COLOURS.get(phase, "#999")}">'
                f"<title>{escape(pod['name'])}: {escape(label_phase)} from {escape(str(_iso(t)))} ({t - start:+.2f} s)</title></rect>"
            )
        if pod["t"].get("created") is not None and pod["t"]["created"] < start:
            # Created before the drill: its bar starts at the left edge; the arrow says it began earlier.
            out.append(f'<text x="{left - 4}" y="{y + 19}" text-anchor="end" fill="#888">◀</text>')
        if gone is not None:
            gx = x(gone)
            out.append(f'<text x="{gx + 3:.1f}" y="{y + 19}" fill="#e4572e" font-weight="bold">✕<title>gone at {escape(str(_iso(gone)))}</title></text>')
    for t, text, col in markers:
        if t is None:
            continue
        mx = x(t)
        out.append(f'<line x1="{mx:.1f}" y1="{top - 4}" x2="{mx:.1f}" y2="{bottom + 6}" stroke="{col}" stroke-width="1.5" stroke-dasharray="5,3"/>')
        out.append(f'<text x="{mx:.1f}" y="{bottom + 20}" text-anchor="middle" fill="{col}" font-size="11">{escape(text)}</text>')
    ly = bottom + 50
    lx = 20
    for _key, text, col in SEGMENTS:
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="14" height="12" rx="2" fill="{col}"/>')
        out.append(f'<text x="{lx + 19}" y="{ly}">{escape(text)}</text>')
        lx += 40 + 7 * len(text)
    out.append(f'<text x="{lx}" y="{ly}" fill="#e4572e" font-weight="bold">✕</text><text x="{lx + 14}" y="{ly}">gone</text>')
    out.append(
        f'<text x="20" y="{ly + 24}" fill="#888" font-size="10">'
        "Times seen on the Kubernetes watch (client clock); pods that existed before the drill use server timestamps (1 s precision).</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def _restore_section(drill: Mapping[str, Any]) -> list[str]:
    replicas, hpa = restore_parts(drill)
    if not replicas and not hpa:
        return []
    lines = ["## Restore", "", "| part | restored | detail |", "| --- | --- | --- |"]
    if replicas:
        detail = f"to {_fmt(replicas.get('target'))}"
        if replicas.get("restored"):
            detail += f", {_fmt(replicas.get('ready'))} Ready" if replicas.get("ready") is not None else ""
        else:
            detail += f": {replicas.get('error') or 'not attempted'}"
        lines.append(f"| replicas | {'yes' if replicas.get('restored') else '**no**'} | {_cell(detail)} |")
    if hpa.get("pinned"):
        settings = f"minReplicas {_fmt(hpa.get('min_replicas'))}, maxReplicas {_fmt(hpa.get('max_replicas'))}"
        detail = settings if hpa.get("restored") else f"{settings}: {hpa.get('error') or 'not attempted'}"
        lines.append(f"| HPA {hpa.get('name')} | {'yes' if hpa.get('restored') else '**no**'} | {_cell(detail)} |")
    elif hpa.get("name"):
        lines.append(f"| HPA {hpa.get('name')} | - | never pinned, nothing to restore |")
    else:
        lines.append("| HPA | - | none targets the Deployment |")
    return lines + [""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(drill: Mapping[str, Any], summary: Mapping[str, Any], svg_name: str | None) -> str:
    lines = [
        f"# Scaling drill: {drill.get('namespace')}/{drill.get('deployment')}",
        "",
        f"**Outcome: {str(summary.get('outcome')).upper()}**" + (f" (failed at: {drill.get('failed_step')})" if drill.get("failed_step") else ""),
        "",
    ]
    if drill.get("failure_msg"):
        lines += [f"> {drill['failure_msg']}", ""]
    lines += ["## Key figures", "", "| figure | value |", "| --- | --- |"]
    for key, value in summary.items():
        lines.append(f"| {key} | {_fmt(value)} |")
    lines.append("")
    lines += _restore_section(drill)
    if svg_name:
        lines += ["## Timeline", "", f"![pod timeline]({svg_name})", ""]
    pre = drill.get("preflight") or {}
    if pre:
        lines += ["## Preflight", ""]
        for key, value in pre.items():
            lines.append(f"- **{key}**: {_fmt(value) if not isinstance(value, dict) else json.dumps(value, sort_keys=True)}")
        lines.append("")
    pods = merge_pods(drill.get("scale_up"), drill.get("scale_down"))
    start = _num(drill.get("started_t")) or 0.0
    lines += [
        "## Pods",
        "",
        "| pod | node | created | scheduled | running | ready | deletion requested | gone | termination | forced |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for pod in pods:
        cells = []
        for phase in PHASES:
            t = pod["t"].get(phase)
            cells.append("-" if t is None else f"{t - start:+.2f} s")
        term = "-" if pod.get("termination_s") is None else f"{pod['termination_s']:.2f} s"
        lines.append(
            f"| {pod['name']}{' (before)' if pod['pre_existing'] else ''} | {pod.get('node') or '-'} | "
            + " | ".join(cells)
            + f" | {term} | {_fmt(pod.get('forced'))} |"
        )
    lines += ["", f"Times are seconds after the drill started ({_iso(start)})."]
    events = drill.get("events") or {}
    if events.get("events"):
        lines += ["", "## Events (sorted by time)", ""]
        if events.get("missing_reasons"):
            lines.append(f"Missing expected reasons: **{', '.join(events['missing_reasons'])}**")
            lines.append("")
        lines += ["| time | type | reason | object | message |", "| --- | --- | --- | --- | --- |"]
        for ev in events["events"]:
            msg = str(ev.get("message", "")).replace("|", "\\|")
            lines.append(f"| {ev.get('time')} | {ev.get('type')} | {ev.get('reason')} | {ev.get('object')} | {msg} |")
    logs = drill.get("logs") or {}
    for key, title in (("startup", "Startup line in every pod"), ("inference", "Inference request in the logs"), ("tail", "Log tail")):
        res = logs.get(key) or {}
        if not res:
            continue
        lines += ["", f"## {title}", "", f"matched: {_fmt(res.get('matched'))}", "", "```text"]
        shown = [p.get("match_line") and f"{p.get('prefix')} {p.get('match_line')}" for p in res.get("pods") or [] if p.get("match_line")]
        lines += (shown or list(res.get("lines") or [])[-20:]) or ["(no lines)"]
        lines.append("```")
    health = drill.get("health") or {}
    if health:
        lines += ["", "## Health probe", "", f"status: **{health.get('status')}** ({health.get('status_code')}) - {health.get('message', '')}"]
        for line in health.get("summary") or []:
            lines.append(f"- {line}")
    loop = drill.get("request_loop") or {}
    load = ((loop.get("checks") or {}).get("load")) or {}
    if load:
        lines += [
            "",
            "## Request loop during the scale-down",
            "",
            f"{load.get('completed', '-')} requests, {load.get('failures', '-')} failures, p50 {_fmt(load.get('p50_s'))} s, p95 {_fmt(load.get('p95_s'))} s.",
        ]
    lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------
def _write_atomic(path: str, content: str, mode: int) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def build_report(params: Mapping[str, Any], check_mode: bool = False) -> dict[str, Any]:
    dest = params["dest"]
    base = params.get("basename") or "scale-drill"
    if "/" in base or base in (".", ".."):
        raise ReportError(f"basename must be a plain file name without '/' (got {base!r}).")
    formats = list(dict.fromkeys(params.get("formats") or ["json", "markdown", "svg"]))
    mode_value = params.get("mode", "0600")
    try:
        mode = int(str(mode_value), 8) if not isinstance(mode_value, int) else mode_value
    except ValueError as exc:
        raise ReportError(f"mode must be an octal string such as '0600' (got {mode_value!r}).") from exc
    drill = dict(params["drill"])
    summary = summarise(drill)
    names = {"json": f"{base}.json", "markdown": f"{base}.md", "svg": f"{base}.svg"}
    contents: dict[str, str] = {}
    if "svg" in formats:
        contents["svg"] = render_svg(drill, summary)
    if "markdown" in formats:
        contents["markdown"] = render_markdown(drill, summary, names["svg"] if "svg" in formats else None)
    if "json" in formats:
        contents["json"] = json.dumps({"summary": summary, "drill": drill}, indent=2, sort_keys=True, default=str) + "\n"
    files: dict[str, str] = {}
    changed = False
    if not check_mode:
        try:
            os.makedirs(dest, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ReportError(f"Could not create the report directory {dest}: {exc}") from exc
    for fmt in formats:
        path = os.path.join(dest, names[fmt])
        files[fmt] = path
        try:
            with open(path, encoding="utf-8") as handle:
                same = handle.read() == contents[fmt] and stat.S_IMODE(os.fstat(handle.fileno()).st_mode) == mode
        except OSError:
            same = False
        if not same:
            changed = True
            if not check_mode:
                try:
                    _write_atomic(path, contents[fmt], mode)
                except OSError as exc:
                    raise ReportError(f"Could not write {path}: {exc}") from exc
    return {"changed": changed, "files": files, "summary": summary, "dest": dest}
