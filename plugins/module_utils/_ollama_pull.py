# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One model's pull: progress (bytes, rate, the progress file), retries that resume, and the check afterwards.

PRIVATE: this file is not part of the collection's public API and may change at
any time. The public surfaces built on it are the ``mlops.ollama.ollama_model`` and
``mlops.ollama.ollama_models`` modules (their ``stall_timeout``, ``progress_file`` and
``progress_interval`` options come from ``PULL_ARGSPEC`` here).

What "verified by digest" means here (Ollama v0.11 API):

* ``/api/tags`` lists every model with the sha256 of its *manifest*; that digest is the
  model's identity (``ollama list`` shows its first 12 characters, and it equals the
  registry's ``Docker-Content-Digest`` for the tag, since Ollama stores the manifest it
  pulled). The pull stream never reports it: its ``digest`` fields are the *layers'*.
* Ollama itself checks every downloaded layer's sha256 before it writes the manifest
  (the ``verifying sha256 digest`` step); an ``{"error": ...}`` line means it failed.
* After a pull, ``verify_pull`` checks what the server then shows: ``/api/tags`` lists the
  model with a sha256 manifest digest; the weights layer the model uses (``/api/show``) is
  one of the layers the pull reported; and, when a digest is pinned, the manifest digest
  is the pinned one.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import OllamaClient, OllamaError, OllamaVerificationError
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_names import ModelName, ModelParameterError, digest_hex, digest_matches, find_model
from ansible_collections.mlops.ollama.plugins.module_utils._values import check_duration

_BLOB_RE = re.compile(r"sha256[-:]([0-9a-f]{64})")

# The pull options of ollama_model and ollama_models (documented in each module).
PULL_ARGSPEC: dict[str, dict[str, Any]] = {
    "insecure": {"type": "bool", "default": False},
    "stall_timeout": {"type": "float", "default": 300.0},
    "progress_file": {"type": "path"},
    "progress_interval": {"type": "float", "default": 2.0},
}

# Operators watching a progress file see a line at least this often.
MAX_PROGRESS_INTERVAL_S = 10.0


@dataclass(frozen=True)
class PullSettings:
    """The pull options, checked."""

    stall_timeout: float
    progress_interval: float
    progress_file: str | None


def check_pull_params(params: dict[str, Any]) -> PullSettings:
    """Check the pull options before any request; ``ValueError`` names the option and the fix."""
    stall = check_duration(params.get("stall_timeout"), "stall_timeout")
    interval = check_duration(params.get("progress_interval"), "progress_interval", maximum=MAX_PROGRESS_INTERVAL_S)
    path = params.get("progress_file") or None
    if path:
        _check_progress_file(path)
    return PullSettings(stall_timeout=stall, progress_interval=interval, progress_file=path)


def _check_progress_file(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(parent):
        raise ModelParameterError(f"progress_file {path!r}: the directory {parent!r} does not exist; create it first or choose another path")
    if os.path.isdir(path):
        raise ModelParameterError(f"progress_file {path!r} is a directory; give a file path such as /tmp/ollama-pull-progress.json")
    if not os.access(parent, os.W_OK):
        raise ModelParameterError(f"progress_file {path!r}: the directory {parent!r} is not writable")


# --------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------


def human_bytes(count: float | None) -> str:
    if count is None:
        return "?"
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: UP017 - modules also run on Python < 3.11


@dataclass
class _Layer:
    """One layer as the current attempt reports it (for percent and rate)."""

    total: int = 0
    last: int = 0


@dataclass
class _LayerLedger:
    """One layer across all attempts of a pull, for ``pulled_bytes``.

    The bytes a layer brought are the most it ever reported minus what it had when first seen.
    What it had when first seen: the first line's count when that is partial (a download resumed
    from an earlier run); when the first line is already complete, all of it if Ollama had the
    layer before (a cache hit is one single line), none if it downloaded it at once (a download
    sends a line every 60 ms until done, so more than one line in that attempt). A layer fetched
    again after a server restart is counted once.
    """

    total: int = 0
    first: int = 0
    most: int = 0
    first_attempt: int = 0
    lines_in_first_attempt: int = 0

    @property
    def pulled(self) -> int:
        if self.first >= self.total:
            return 0 if self.lines_in_first_attempt <= 1 else self.total
        return max(self.most - self.first, 0)


class PullProgress:
    """Follows a pull's progress lines: bytes, percent, rate; writes the progress file; keeps samples.

    The progress file is one small JSON document, replaced atomically (write + rename) at
    most every ``interval`` seconds while bytes flow, at every phase change and at the end,
    and refreshed at least every ``interval`` seconds during silent phases (``heartbeat``):

    ``{"model", "index", "count", "state", "status", "attempt", "completed", "total",
    "percent", "rate_bytes_per_s", "eta_s", "elapsed_s", "started_at", "updated_at",
    "pid", "line", "error"}``. ``state`` is ``pulling``, ``retrying``, ``verifying``,
    ``done``, ``failed`` or ``deleting``; ``line`` is a one-line summary for people.

    ``samples`` keeps the same facts every ``sample_every`` seconds for the task's result.
    """

    MAX_SAMPLES = 500

    def __init__(
        self,
        *,
        path: str | None = None,
        interval: float = 2.0,
        sample_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        pid: int | None = None,
    ) -> None:
        self.path = path
        self.interval = interval
        self.sample_every = sample_every
        self.clock = clock
        self.pid = pid if pid is not None else os.getpid()
        self.samples: list[dict[str, Any]] = []
        self.pulled_bytes = 0
        self.model: str | None = None
        self.index = 0
        self.count = 0
        self._reset_model()

    def _reset_model(self) -> None:
        self.state = "pending"
        self.status: str | None = None
        self.attempt = 0
        self.error: str | None = None
        self.layers: dict[str, _Layer] = {}
        self.reported_layers: set[str] = set()
        self._ledger: dict[str, _LayerLedger] = {}
        self._model_counted = True
        self._window: deque[tuple[float, int]] = deque()
        self._started = self.clock()
        self._started_at = _utc_now()
        self._last_write = float("-inf")
        self._last_sample = float("-inf")

    # -- events ------------------------------------------------------------------

    def begin(self, model: str, *, index: int = 1, count: int = 1) -> None:
        self.model, self.index, self.count = model, index, count
        self._reset_model()
        self._model_counted = False
        self.state = "pulling"
        self._emit(force=True)

    def start_attempt(self, attempt: int) -> None:
        self.attempt = attempt
        self.layers = {}
        self._window.clear()
        self.state = "pulling"
        if attempt > 1:
            self._emit(force=True)

    def update(self, event: dict[str, Any]) -> None:
        status = event.get("status")
        phase_change = status != self.status and not str(status or "").startswith("pulling ")
        self.status = status if isinstance(status, str) else self.status
        digest = event.get("digest")
        if isinstance(digest, str) and digest:
            self.reported_layers.add(digest)
            completed = event.get("completed")
            total = event.get("total")
            done = completed if isinstance(completed, int) else 0
            size = total if isinstance(total, int) else 0
            layer = self.layers.setdefault(digest, _Layer(total=size, last=done))
            layer.total = size or layer.total
            layer.last = max(layer.last, done)
            ledger = self._ledger.get(digest)
            if ledger is None:
                ledger = self._ledger[digest] = _LayerLedger(total=size, first=done, most=done, first_attempt=self.attempt)
            ledger.total = size or ledger.total
            ledger.most = max(ledger.most, done)
            if ledger.first_attempt == self.attempt:
                ledger.lines_in_first_attempt += 1
        if self.status in ("verifying sha256 digest", "writing manifest"):
            self.state = "verifying"
        now = self.clock()
        self._window.append((now, self.completed))
        while len(self._window) > 2 and now - self._window[0][0] > 10.0:
            self._window.popleft()
        self._emit(force=phase_change)

    def heartbeat(self) -> None:
        self._emit(force=False)

    def retrying(self, error: OllamaError, delay: float) -> None:
        self.state = "retrying"
        self.error = f"{type(error).__name__}: {error.message}; retrying in {delay:g} s"
        self._emit(force=True)

    def finish(self, *, error: OllamaError | None = None, state: str | None = None) -> None:
        if not self._model_counted:
            self._model_counted = True
            self.pulled_bytes += self.model_pulled_bytes
        self.state = state or ("failed" if error else "done")
        self.error = str(error) if error else None
        self._emit(force=True, sample=True)

    def deleting(self, model: str, *, index: int, count: int) -> None:
        self.model, self.index, self.count = model, index, count
        self._reset_model()
        self.state = "deleting"
        self._emit(force=True)

    @property
    def model_pulled_bytes(self) -> int:
        """Bytes this pull brought to the server for the current model (see ``_LayerLedger``)."""
        return sum(ledger.pulled for ledger in self._ledger.values())

    # -- numbers -----------------------------------------------------------------

    @property
    def completed(self) -> int:
        return sum(layer.last for layer in self.layers.values())

    @property
    def total(self) -> int:
        return sum(layer.total for layer in self.layers.values())

    @property
    def rate(self) -> float | None:
        if len(self._window) < 2:
            return None
        (t0, c0), (t1, c1) = self._window[0], self._window[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 and c1 >= c0 else None

    def snapshot(self) -> dict[str, Any]:
        completed, total = self.completed, self.total
        percent = round(100.0 * completed / total, 1) if total else None
        rate = self.rate
        eta = round((total - completed) / rate, 1) if rate and total >= completed else None
        elapsed = round(self.clock() - self._started, 1)
        facts: dict[str, Any] = {
            "model": self.model,
            "index": self.index,
            "count": self.count,
            "state": self.state,
            "status": self.status,
            "attempt": self.attempt,
            "completed": completed,
            "total": total,
            "percent": percent,
            "rate_bytes_per_s": round(rate, 1) if rate is not None else None,
            "eta_s": eta,
            "elapsed_s": elapsed,
            "pulled_bytes": self.model_pulled_bytes,
            "started_at": self._started_at,
            "updated_at": _utc_now(),
            "pid": self.pid,
            "error": self.error,
        }
        facts["line"] = self.line(facts)
        return facts

    @staticmethod
    def line(facts: dict[str, Any]) -> str:
        """One line for people: ``[2/3] llama3.2:1b: pulling 41.3%, 541.2 MB of 1.3 GB, 48.1 MB/s, ETA 16 s, 12 s elapsed``."""
        where = f"[{facts['index']}/{facts['count']}] " if facts.get("count", 0) > 1 else ""
        parts = [f"{where}{facts['model']}: {facts['state']}"]
        if facts["state"] in ("pulling", "verifying", "retrying", "done") and facts["total"]:
            parts[0] += f" {facts['percent']:.1f}%"
            parts.append(f"{human_bytes(facts['completed'])} of {human_bytes(facts['total'])}")
            if facts["rate_bytes_per_s"] and facts["state"] == "pulling":
                parts.append(f"{human_bytes(facts['rate_bytes_per_s'])}/s")
            if facts["eta_s"] is not None and facts["state"] == "pulling":
                parts.append(f"ETA {facts['eta_s']:.0f} s")
        status = facts.get("status")
        if status and not str(status).startswith("pulling ") and status != "success" and facts["state"] not in ("done", "deleting"):
            parts.append(str(status))
        if facts.get("attempt", 0) > 1:
            parts.append(f"attempt {facts['attempt']}")
        parts.append(f"{facts['elapsed_s']:.0f} s elapsed")
        text = ", ".join(parts)
        if facts.get("error") and facts["state"] in ("retrying", "failed"):
            text += f": {facts['error']}"
        return text

    # -- output ------------------------------------------------------------------

    def _emit(self, *, force: bool, sample: bool = False) -> None:
        now = self.clock()
        write = self.path is not None and (force or now - self._last_write >= self.interval)
        take_sample = sample or now - self._last_sample >= self.sample_every
        if not (write or take_sample):
            return
        facts = self.snapshot()
        if take_sample and self.model is not None:
            self._last_sample = now
            if len(self.samples) < self.MAX_SAMPLES:
                self.samples.append({k: facts[k] for k in ("model", "state", "status", "completed", "total", "percent", "rate_bytes_per_s", "elapsed_s")})
        if write:
            self._last_write = now
            write_json_atomically(str(self.path), facts)


def write_json_atomically(path: str, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` as JSON so a reader never sees half a document."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# Pull with resume, and verification
# --------------------------------------------------------------------------------------


@dataclass
class PullReport:
    attempts: int = 0
    layers: list[str] = field(default_factory=list)
    pulled_bytes: int = 0
    retried_errors: list[str] = field(default_factory=list)
    duration_s: float = 0.0


def pull_with_resume(
    client: OllamaClient,
    name: ModelName,
    *,
    insecure: bool,
    stall_timeout: float,
    attempts: int,
    backoff: float,
    progress: PullProgress,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    report: PullReport | None = None,
) -> PullReport:
    """Pull ``name`` until Ollama says ``success``, retrying what may pass: a dropped connection,
    a server restarting, a stall, a registry hiccup, a malformed line.

    Retrying is resuming while the server runs: it keeps partial downloads (``-partial``
    files) and complete layers, so the next ``/api/pull`` continues where the last one
    stopped. A restarted server has deleted both (Ollama prunes unreferenced blobs at start
    unless ``OLLAMA_NOPRUNE`` is set), so those layers are fetched again.
    ``report`` (filled in as it goes) lets a caller see the attempts even when this raises.
    """
    report = report if report is not None else PullReport()
    start = clock()
    for attempt in range(1, max(attempts, 1) + 1):
        report.attempts = attempt
        progress.start_attempt(attempt)
        try:
            for event in client.pull(name.display, insecure=insecure, stall_timeout=stall_timeout, heartbeat=progress.heartbeat):
                progress.update(event)
            break
        except OllamaError as exc:
            if not exc.retryable or attempt >= attempts:
                if attempt > 1:
                    exc.message = f"{exc.message} (pull attempt {attempt} of {attempts})"
                report.duration_s = clock() - start
                progress.finish(error=exc)
                raise
            delay = min(backoff * (2 ** (attempt - 1)), 30.0)
            report.retried_errors.append(f"attempt {attempt}: {type(exc).__name__}: {exc.message}")
            progress.retrying(exc, delay)
            sleep(delay)
    progress.state = "verifying"
    report.layers = sorted(progress.reported_layers)
    report.pulled_bytes = progress.model_pulled_bytes
    report.duration_s = clock() - start
    return report


def weights_layer(show: dict[str, Any]) -> str | None:
    """The ``sha256:`` digest of the model's weights blob, from ``/api/show``'s Modelfile ``FROM`` line."""
    modelfile = show.get("modelfile")
    if isinstance(modelfile, str):
        for line in modelfile.splitlines():
            if line.startswith("FROM "):
                match = _BLOB_RE.search(line)
                if match:
                    return f"sha256:{match.group(1)}"
    return None


def verify_pull(client: OllamaClient, name: ModelName, report: PullReport, *, pinned: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check what the server shows after a pull; return (the ``/api/tags`` entry, the verification facts)."""
    entry, manifest = _listed_with_digest(client, name)
    facts: dict[str, Any] = {
        "listed": True,
        "manifest_digest": manifest,
        "layers_reported": report.layers,
        "weights_layer": None,
        "weights_layer_reported": None,
        "pinned_digest": pinned,
        "pinned_digest_matches": None,
    }
    facts["weights_layer"] = weights = weights_layer(client.show(entry.get("name") or name.display))
    if weights is not None and report.layers:
        facts["weights_layer_reported"] = weights in report.layers
        if not facts["weights_layer_reported"]:
            raise OllamaVerificationError(
                f"the model uses weights {weights}, which is not one of the layers the pull reported ({', '.join(report.layers)})",
                endpoint=client.endpoint,
                model=name.display,
                hint="another client may have changed the model at the same time; run the task again",
            )
    if pinned is not None:
        facts["pinned_digest_matches"] = digest_matches(pinned, manifest)
        if not facts["pinned_digest_matches"]:
            raise OllamaVerificationError(
                f"the registry's {name.tag!r} tag now has manifest digest {manifest}, not the pinned {pinned}",
                endpoint=client.endpoint,
                model=name.display,
                hint="the tag was moved in the registry; pin the new digest if it is the model you want, or push the pinned one again",
            )
    return entry, facts


def _listed_with_digest(client: OllamaClient, name: ModelName) -> tuple[dict[str, Any], str]:
    """The model's ``/api/tags`` entry and its manifest digest, or ``OllamaVerificationError``."""
    entry = find_model(client.tags(), name)
    if entry is None:
        raise OllamaVerificationError(
            "the pull said success but /api/tags does not list the model",
            endpoint=client.endpoint,
            model=name.display,
            hint="check the server's log and models directory (is it writable, is it full?), then run the task again",
        )
    manifest = digest_hex(entry.get("digest"))
    if manifest is None:
        raise OllamaVerificationError(
            f"/api/tags lists the model without a sha256 manifest digest ({entry.get('digest')!r})",
            endpoint=client.endpoint,
            model=name.display,
            hint="check the server version (v0.11 or later lists digests)",
        )
    return entry, manifest
