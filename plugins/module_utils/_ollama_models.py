# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Model management on an Ollama server: names, declared vs present, pulls that resume and verify, progress.

PRIVATE: this file is not part of the collection's public API and may change at
any time. The public surfaces built on it are the ``mlops.ollama.ollama_model``,
``mlops.ollama.ollama_models`` and ``mlops.ollama.ollama_model_info`` modules.

The modules are thin: each builds its ``AnsibleModule`` from the argument specs here and
calls ``run_model_module`` / ``run_models_module`` / ``run_info_module``, which convert the
client's one exception hierarchy (``OllamaError``) into ``fail_json`` in one place.

What "verified by digest" means here (Ollama v0.11 API):

* ``/api/tags`` lists every model with the sha256 of its *manifest*; that digest is the
  model's identity (``ollama list`` shows its first 12 characters, and it equals the
  registry's ``Docker-Content-Digest`` for the tag, since Ollama stores the manifest it
  pulled). The pull stream never reports it: its ``digest`` fields are the *layers'*.
* Ollama itself checks every downloaded layer's sha256 before it writes the manifest
  (the ``verifying sha256 digest`` step); an ``{"error": ...}`` line means it failed.
* After a pull the module checks what the server then shows: the stream ended with
  ``success``; ``/api/tags`` lists the model with a sha256 manifest digest; the weights
  layer the model uses (``/api/show``) is one of the layers the pull reported; and, when a
  digest is pinned (``digest``), the manifest digest is the pinned one.
* ``state: latest`` compares the manifest digest before and after the pull: ``changed`` only
  when it differs. In check mode the module asks the registry for the tag's manifest digest
  (a read-only ``HEAD``, the request Ollama itself makes first) to predict that.
"""

from __future__ import annotations

import json
import os
import re
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NoReturn

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import (
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    OllamaClient,
    OllamaError,
    OllamaNotFound,
    OllamaParameterError,
    OllamaUnreachable,
    OllamaVerificationError,
    error_result,
)

try:
    import jmespath
except ImportError:  # pragma: no cover - exercised by ansible-test's import sanity test
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None

if TYPE_CHECKING:  # pragma: no cover
    from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_names import (  # noqa: F401 - re-exported until the split
    DEFAULT_NAMESPACE,
    DEFAULT_REGISTRY,
    DEFAULT_TAG,
    MODEL_NAME_PATTERN,
    MODEL_NAME_RE,
    NAME_FORMAT_HELP,
    ModelName,
    ModelParameterError,
    digest_hex,
    digest_matches,
    find_model,
    model_facts,
    model_key,
    model_listing,
    normalize_model_name,
    parse_model_name,
    parse_pinned_digest,
)

_BLOB_RE = re.compile(r"sha256[-:]([0-9a-f]{64})")


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
    facts: dict[str, Any] = {
        "listed": True,
        "manifest_digest": manifest,
        "layers_reported": report.layers,
        "weights_layer": None,
        "weights_layer_reported": None,
        "pinned_digest": pinned,
        "pinned_digest_matches": None,
    }
    weights = weights_layer(client.show(entry.get("name") or name.display))
    facts["weights_layer"] = weights
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


# --------------------------------------------------------------------------------------
# The registry's manifest digest (check-mode prediction for state=latest)
# --------------------------------------------------------------------------------------

MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"


class RegistryLookupError(Exception):
    pass


def registry_manifest_digest(name: ModelName, *, insecure: bool, timeout: float, transport: Any = None) -> str:
    """The registry's manifest digest for ``name``'s tag: a read-only ``HEAD`` on the URL Ollama pulls from.

    Follows the anonymous bearer-token challenge of OCI registries. Raises ``RegistryLookupError``.
    """
    if not HAS_HTTPX:  # pragma: no cover
        raise RegistryLookupError("httpx is not installed")
    import httpx

    scheme = "http" if insecure else "https"
    url = f"{scheme}://{name.registry_host}/v2/{name.repository}/manifests/{name.tag}"
    headers = {"Accept": MANIFEST_ACCEPT}
    try:
        with httpx.Client(timeout=timeout, transport=transport, follow_redirects=True) as http:
            response = http.head(url, headers=headers)
            if response.status_code == 401:
                token = _anonymous_token(http, response.headers.get("www-authenticate", ""))
                if token:
                    response = http.head(url, headers={**headers, "Authorization": f"Bearer {token}"})
            if response.status_code != 200:
                raise RegistryLookupError(f"HEAD {url} answered HTTP {response.status_code}")
            digest = digest_hex(response.headers.get("docker-content-digest"))
            if digest is None:
                body = http.get(url, headers=headers)
                if body.status_code != 200:
                    raise RegistryLookupError(f"GET {url} answered HTTP {body.status_code}")
                import hashlib

                digest = hashlib.sha256(body.content).hexdigest()
            return digest
    except httpx.HTTPError as exc:
        raise RegistryLookupError(f"{url}: {type(exc).__name__}: {exc}") from None


def _anonymous_token(http: Any, challenge: str) -> str | None:
    if not challenge.lower().startswith("bearer "):
        return None
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = fields.pop("realm", None)
    if not realm:
        return None
    response = http.get(realm, params=fields)
    if response.status_code != 200:
        return None
    data = response.json()
    token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
    return str(token) if token else None


# --------------------------------------------------------------------------------------
# Declared models vs present: the engine behind ollama_model and ollama_models
# --------------------------------------------------------------------------------------

STATES = ("present", "latest", "absent")


@dataclass(frozen=True)
class DeclaredModel:
    name: ModelName
    state: str = "present"
    digest: str | None = None
    insecure: bool = False


@dataclass
class SyncOptions:
    prune: bool = False
    check_mode: bool = False
    stall_timeout: float = 300.0
    attempts: int = 4
    backoff: float = 1.0
    registry_timeout: float = 10.0


@dataclass
class ModelOutcome:
    name: str
    state: str
    action: str = "none"
    changed: bool = False
    reason: str = ""
    digest_before: str | None = None
    digest_after: str | None = None
    model: dict[str, Any] | None = None
    pulled_bytes: int = 0
    duration_s: float = 0.0
    attempts: int = 0
    verification: dict[str, Any] | None = None
    registry_digest: str | None = None
    retried_errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "action": self.action,
            "changed": self.changed,
            "reason": self.reason,
            "digest_before": self.digest_before,
            "digest_after": self.digest_after,
            "model": self.model,
            "pulled_bytes": self.pulled_bytes,
            "duration_s": round(self.duration_s, 3),
            "attempts": self.attempts,
            "verification": self.verification,
            "registry_digest": self.registry_digest,
            "retried_errors": self.retried_errors,
        }


class ModelSync:
    """Bring an Ollama server's models to the declared state.

    One ``/api/tags`` read decides everything; when nothing is to do, that is the only request.
    Pulls run first (each retried and verified), deletions (``absent``, then ``prune``) after,
    so a failed pull never leaves the server with fewer models than before. In check mode
    nothing is written: the plan is the prediction.
    """

    def __init__(
        self,
        client: OllamaClient,
        declared: list[DeclaredModel],
        options: SyncOptions,
        *,
        progress: PullProgress | None = None,
        warn: Callable[[str], None] = lambda _msg: None,
        registry_lookup: Callable[..., str] = registry_manifest_digest,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        keys: dict[str, str] = {}
        for item in declared:
            if item.name.key in keys:
                raise ModelParameterError(
                    f"model {item.name.display!r} is declared more than once (names compare as Ollama compares them: "
                    "case-insensitively, with the default tag, namespace and registry filled in); declare each model once"
                )
            keys[item.name.key] = item.name.display
        self.client = client
        self.declared = declared
        self.options = options
        self.progress = progress or PullProgress()
        self.warn = warn
        self.registry_lookup = registry_lookup
        self.sleep = sleep
        self.clock = clock
        self.outcomes: list[ModelOutcome] = []
        self.before: list[dict[str, Any]] | None = None
        self.after: list[dict[str, Any]] | None = None
        self.duration_s = 0.0

    @property
    def changed(self) -> bool:
        return any(o.changed for o in self.outcomes)

    # -- planning ------------------------------------------------------------------

    def plan(self, tags: list[dict[str, Any]]) -> tuple[list[tuple[DeclaredModel, ModelOutcome]], list[ModelOutcome]]:
        pulls: list[tuple[DeclaredModel, ModelOutcome]] = []
        deletes: list[ModelOutcome] = []
        declared_keys = {d.name.key for d in self.declared}
        for item in self.declared:
            entry = find_model(tags, item.name)
            present = model_facts(entry)
            outcome = ModelOutcome(name=item.name.display, state=item.state, model=present, digest_before=digest_hex(entry.get("digest")) if entry else None)
            outcome.digest_after = outcome.digest_before
            self.outcomes.append(outcome)
            if item.state == "absent":
                if entry is not None:
                    outcome.action, outcome.changed, outcome.reason = "delete", True, "present, declared absent"
                    outcome.name = str(present["name"]) if present else outcome.name
                    deletes.append(outcome)
                else:
                    outcome.reason = "already absent"
                continue
            if item.state == "present":
                if entry is None:
                    outcome.action, outcome.changed, outcome.reason = "pull", True, "not on the server"
                    pulls.append((item, outcome))
                elif not digest_matches(item.digest, outcome.digest_before):
                    outcome.action, outcome.changed, outcome.reason = "pull", True, f"present with digest {outcome.digest_before}, not the pinned {item.digest}"
                    pulls.append((item, outcome))
                else:
                    outcome.reason = "already present" + (" with the pinned digest" if item.digest else "")
                continue
            # latest: always pull for real; in check mode, predict from the registry.
            outcome.action = "pull"
            if entry is None:
                outcome.changed, outcome.reason = True, "not on the server"
            elif self.options.check_mode:
                self._predict_latest(item, outcome)
            else:
                outcome.reason = "state latest: pull to compare digests"
            pulls.append((item, outcome))
        if self.options.prune:
            for entry in tags:
                listed = str(entry.get("name") or entry.get("model"))
                if model_key(listed) in declared_keys:
                    continue
                outcome = ModelOutcome(
                    name=listed,
                    state="absent",
                    action="delete",
                    changed=True,
                    reason="not declared (prune)",
                    model=model_facts(entry),
                    digest_before=digest_hex(entry.get("digest")),
                )
                self.outcomes.append(outcome)
                deletes.append(outcome)
        return pulls, deletes

    def _predict_latest(self, item: DeclaredModel, outcome: ModelOutcome) -> None:
        try:
            remote = self.registry_lookup(item.name, insecure=item.insecure, timeout=self.options.registry_timeout)
        except RegistryLookupError as exc:
            outcome.changed = True
            outcome.reason = "state latest: the registry could not be asked from here, so a change is assumed"
            self.warn(
                f"check mode cannot tell whether {item.name.display} changed in its registry ({exc}); reporting it as changed. "
                "The real run pulls through the Ollama server, which may reach the registry when this host cannot."
            )
            return
        outcome.registry_digest = remote
        if remote == outcome.digest_before and digest_matches(item.digest, remote):
            outcome.changed, outcome.action = False, "none"
            outcome.reason = "state latest: the registry's digest is the one on the server"
        else:
            outcome.changed = True
            outcome.reason = f"state latest: the registry has digest {remote}, the server {outcome.digest_before}"

    # -- running ---------------------------------------------------------------------

    def run(self) -> None:
        start = self.clock()
        try:
            tags = self.client.tags()
            self.before = tags
            pulls, deletes = self.plan(tags)
            if self.options.check_mode:
                self.after = self._predicted_after(tags)
                return
            # Nothing is claimed before it is done: a step that never ran (an earlier one failed) is no change.
            for outcome in deletes:
                outcome.changed, outcome.reason = False, f"not done (an earlier step failed): {outcome.reason}"
            # One model that cannot be pulled (a typo, a tag missing from its registry) must not
            # keep the others from syncing; deletions wait until every pull has succeeded.
            failures: list[tuple[str, OllamaError]] = []
            for index, (item, outcome) in enumerate(pulls, start=1):
                try:
                    self._pull(item, outcome, index=index, count=len(pulls))
                except OllamaUnreachable:
                    raise  # every other pull would fail the same way
                except OllamaError as exc:
                    failures.append((item.name.display, exc))
            if failures:
                name, first = failures[0]
                if len(pulls) > 1:
                    first.message += (
                        f" [{len(failures)} of {len(pulls)} pulls failed ({', '.join(n for n, _exc in failures)}); "
                        f"the other declared models were synced; nothing was deleted]"
                    )
                raise first
            for index, outcome in enumerate(deletes, start=1):
                self._delete(outcome, index=index, count=len(deletes))
            self.after = self.client.tags() if self.changed else tags
        finally:
            self.duration_s = self.clock() - start

    def _pull(self, item: DeclaredModel, outcome: ModelOutcome, *, index: int, count: int) -> None:
        started = self.clock()
        self.progress.begin(item.name.display, index=index, count=count)
        # Reported only if the pull fails: nothing is claimed until the server shows the model.
        outcome.changed = False
        report = PullReport()
        try:
            pull_with_resume(
                self.client,
                item.name,
                insecure=item.insecure,
                stall_timeout=self.options.stall_timeout,
                attempts=self.options.attempts,
                backoff=self.options.backoff,
                progress=self.progress,
                sleep=self.sleep,
                clock=self.clock,
                report=report,
            )
            outcome.attempts, outcome.pulled_bytes, outcome.retried_errors = report.attempts, report.pulled_bytes, report.retried_errors
            entry, outcome.verification = verify_pull(self.client, item.name, report, pinned=item.digest)
        except OllamaError as exc:
            outcome.duration_s = self.clock() - started
            outcome.attempts, outcome.retried_errors = report.attempts, report.retried_errors
            outcome.pulled_bytes = self.progress.model_pulled_bytes
            outcome.reason = f"pull failed: {type(exc).__name__}"
            if self.progress.state != "failed":
                self.progress.finish(error=exc)
            raise
        outcome.model = model_facts(entry)
        outcome.digest_after = digest_hex(entry.get("digest"))
        outcome.changed = outcome.digest_after != outcome.digest_before
        if outcome.digest_before is None:
            outcome.reason = "pulled"
        elif outcome.changed:
            outcome.reason = f"pulled a new digest (was {outcome.digest_before})"
        else:
            outcome.reason = "pulled; the digest is unchanged"
        outcome.duration_s = self.clock() - started
        self.progress.finish()

    def _delete(self, outcome: ModelOutcome, *, index: int, count: int) -> None:
        started = self.clock()
        self.progress.deleting(outcome.name, index=index, count=count)
        outcome.reason = outcome.reason.replace("not done (an earlier step failed): ", "", 1)
        try:
            self.client.delete(outcome.name)
        except OllamaNotFound:
            outcome.reason = "already gone when deleting"
        else:
            outcome.changed = True
        outcome.model = None
        outcome.digest_after = None
        outcome.duration_s = self.clock() - started
        self.progress.finish(state="done")

    def _predicted_after(self, tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
        deleted = {model_key(o.name) for o in self.outcomes if o.action == "delete" and o.changed}
        after = [dict(entry) for entry in tags if model_key(str(entry.get("name") or entry.get("model"))) not in deleted]
        for outcome in self.outcomes:
            if outcome.action != "pull" or not outcome.changed:
                continue
            predicted = outcome.registry_digest or "(digest known after the pull)"
            existing = find_model(after, outcome.name)
            if existing is not None:
                existing["digest"] = predicted
            else:
                after.append({"name": outcome.name, "digest": predicted})
        return after

    def diff(self) -> dict[str, Any]:
        return {"before": model_listing(self.before or []), "after": model_listing(self.after if self.after is not None else (self.before or []))}

    def result(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "models": [o.as_dict() for o in self.outcomes],
            "pulled": [o.name for o in self.outcomes if o.action == "pull" and o.changed],
            "deleted": [o.name for o in self.outcomes if o.action == "delete" and o.changed],
            "unchanged": [o.name for o in self.outcomes if not o.changed],
            "pulled_bytes": sum(o.pulled_bytes for o in self.outcomes),
            "duration_s": round(self.duration_s, 3),
            "api_calls": list(self.client.requests_made),
            "progress": self.progress.samples,
        }


# --------------------------------------------------------------------------------------
# Argument specs and the modules' bodies
# --------------------------------------------------------------------------------------

PULL_ARGSPEC: dict[str, dict[str, Any]] = {
    "insecure": {"type": "bool", "default": False},
    "stall_timeout": {"type": "float", "default": 300.0},
    "progress_file": {"type": "path"},
    "progress_interval": {"type": "float", "default": 2.0},
}

MODEL_ARGSPEC: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": list(STATES), "default": "present"},
    "digest": {"type": "str"},
    **PULL_ARGSPEC,
}

MODELS_ARGSPEC: dict[str, dict[str, Any]] = {
    "models": {"type": "list", "elements": "raw", "required": True},
    "state": {"type": "str", "choices": ["present", "latest"], "default": "present"},
    "prune": {"type": "bool", "default": False},
    **PULL_ARGSPEC,
}

INFO_SECTIONS = ("version", "models", "details", "loaded")

INFO_ARGSPEC: dict[str, dict[str, Any]] = {
    "models": {"type": "list", "elements": "str", "default": []},
    "all_details": {"type": "bool", "default": False},
    "gather": {"type": "list", "elements": "str", "choices": list(INFO_SECTIONS), "default": list(INFO_SECTIONS)},
    "query": {"type": "str"},
    "include_tensors": {"type": "bool", "default": False},
}


def argument_spec(own: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The connection options plus a module's own (deep copies: Ansible mutates specs)."""
    import copy

    from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import CONNECTION_ARGSPEC

    spec = copy.deepcopy(CONNECTION_ARGSPEC)
    spec.update(copy.deepcopy(own))
    return spec


ClientFactory = Callable[[dict[str, Any]], OllamaClient]


def _check_pull_params(params: dict[str, Any]) -> None:
    stall = params.get("stall_timeout")
    if stall is None or stall <= 0:
        raise ModelParameterError(f"stall_timeout must be a number of seconds greater than 0, got {stall!r}")
    interval = params.get("progress_interval")
    if interval is None or not 0 < interval <= 10:
        raise ModelParameterError(
            f"progress_interval must be more than 0 and at most 10 seconds (operators see progress at least every 10 s), got {interval!r}"
        )
    path = params.get("progress_file")
    if path:
        parent = os.path.dirname(os.path.abspath(path)) or "."
        if not os.path.isdir(parent):
            raise ModelParameterError(f"progress_file {path!r}: the directory {parent!r} does not exist; create it first or choose another path")
        if os.path.isdir(path):
            raise ModelParameterError(f"progress_file {path!r} is a directory; give a file path such as /tmp/ollama-pull-progress.json")
        if not os.access(parent, os.W_OK):
            raise ModelParameterError(f"progress_file {path!r}: the directory {parent!r} is not writable")


def _make_client(module: AnsibleModule, client_factory: ClientFactory | None) -> OllamaClient:
    factory = client_factory or OllamaClient.from_module_params
    return factory(module.params)


def _sync_options(module: AnsibleModule, *, prune: bool) -> SyncOptions:
    p = module.params
    return SyncOptions(
        prune=prune,
        check_mode=module.check_mode,
        stall_timeout=float(p["stall_timeout"]),
        attempts=int(p.get("retries") or 0) + 1,
        backoff=float(p.get("retry_backoff") or 0.0),
        registry_timeout=min(float(p.get("timeout") or 10.0), 30.0),
    )


def _fail(module: AnsibleModule, exc: BaseException, **result: Any) -> NoReturn:
    """The one place an error becomes ``fail_json``."""
    if isinstance(exc, OllamaError):
        module.fail_json(**error_result(exc), exception=traceback.format_exc(), **result)
    module.fail_json(msg=str(exc), **result)
    raise AssertionError("fail_json returned")  # pragma: no cover - fail_json exits


def _require_httpx(module: AnsibleModule) -> None:
    if not HAS_HTTPX:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)


def _run_sync(
    module: AnsibleModule, declared: list[DeclaredModel], *, prune: bool, client_factory: ClientFactory | None, shape: Callable[[ModelSync], dict[str, Any]]
) -> None:
    """Shared body of ollama_model and ollama_models: ``shape`` turns the sync into the module's result, on success and on failure."""
    try:
        _check_pull_params(module.params)
        client = _make_client(module, client_factory)
        progress = PullProgress(path=module.params.get("progress_file"), interval=float(module.params["progress_interval"]))
        sync = ModelSync(client, declared, _sync_options(module, prune=prune), progress=progress, warn=module.warn)
    except (ModelParameterError, OllamaParameterError) as exc:
        _fail(module, exc, changed=False)
    try:
        sync.run()
    except (OllamaError, OSError) as exc:  # OSError: the progress file could not be written
        _fail(module, exc, **shape(sync))
    result = shape(sync)
    if module._diff:
        result["diff"] = sync.diff()
    module.exit_json(**result)


def _single_result(sync: ModelSync) -> dict[str, Any]:
    if not sync.outcomes:  # failed before the plan (listing the models failed)
        return {"changed": False, "model": None, "api_calls": list(sync.client.requests_made)}
    outcome = sync.outcomes[0]
    return {
        "changed": outcome.changed,
        "model": outcome.model,
        "action": outcome.action,
        "reason": outcome.reason,
        "digest_before": outcome.digest_before,
        "digest_after": outcome.digest_after,
        "pulled_bytes": outcome.pulled_bytes,
        "duration_s": round(sync.duration_s, 3),
        "attempts": outcome.attempts,
        "verification": outcome.verification,
        "registry_digest": outcome.registry_digest,
        "retried_errors": outcome.retried_errors,
        "api_calls": list(sync.client.requests_made),
        "progress": sync.progress.samples,
    }


def run_model_module(module: AnsibleModule, client_factory: ClientFactory | None = None) -> None:
    """``mlops.ollama.ollama_model``: one model, present / latest / absent."""
    _require_httpx(module)
    p = module.params
    try:
        declared = [DeclaredModel(parse_model_name(p["name"]), p["state"], parse_pinned_digest(p.get("digest")), bool(p["insecure"]))]
        if p["state"] == "absent" and declared[0].digest:
            raise ModelParameterError("digest applies to state present or latest, not absent; remove digest or change state")
    except ModelParameterError as exc:
        _fail(module, exc, changed=False)
    _run_sync(module, declared, prune=False, client_factory=client_factory, shape=_single_result)


def parse_declared_models(items: list[Any], *, default_state: str, default_insecure: bool) -> list[DeclaredModel]:
    """``models:`` entries: a name, or ``{name, state, digest, insecure}``."""
    declared: list[DeclaredModel] = []
    for index, item in enumerate(items):
        where = f"models[{index}]"
        if isinstance(item, str):
            declared.append(DeclaredModel(parse_model_name(item, param=where), default_state, None, default_insecure))
            continue
        if not isinstance(item, dict):
            raise ModelParameterError(f"{where} must be a model name or a dict with name (and optionally state, digest, insecure), got {type(item).__name__}")
        unknown = set(item) - {"name", "state", "digest", "insecure"}
        if unknown:
            raise ModelParameterError(f"{where} has unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: name, state, digest, insecure")
        if "name" not in item:
            raise ModelParameterError(f"{where} has no name")
        state = item.get("state") or default_state
        if state not in STATES:
            raise ModelParameterError(f"{where}.state must be one of {', '.join(STATES)}, got {state!r}")
        insecure = item.get("insecure", default_insecure)
        if not isinstance(insecure, bool):
            from ansible.module_utils.parsing.convert_bool import boolean

            try:
                insecure = boolean(insecure)
            except TypeError:
                raise ModelParameterError(f"{where}.insecure must be a boolean, got {insecure!r}") from None
        digest = parse_pinned_digest(item.get("digest"), param=f"{where}.digest")
        if state == "absent" and digest:
            raise ModelParameterError(f"{where}: digest applies to state present or latest, not absent")
        declared.append(DeclaredModel(parse_model_name(item["name"], param=f"{where}.name"), state, digest, insecure))
    return declared


def run_models_module(module: AnsibleModule, client_factory: ClientFactory | None = None) -> None:
    """``mlops.ollama.ollama_models``: a declared set, optionally pruning the rest."""
    _require_httpx(module)
    p = module.params
    try:
        declared = parse_declared_models(p["models"] or [], default_state=p["state"], default_insecure=bool(p["insecure"]))
    except ModelParameterError as exc:
        _fail(module, exc, changed=False)
    _run_sync(module, declared, prune=bool(p["prune"]), client_factory=client_factory, shape=ModelSync.result)


# --------------------------------------------------------------------------------------
# ollama_model_info
# --------------------------------------------------------------------------------------


def gather_info(
    client: OllamaClient, *, gather: list[str], names: list[ModelName], all_details: bool, query: str | None, include_tensors: bool
) -> dict[str, Any]:
    """Read-only facts: version, model list (optionally filtered by a JMESPath ``query``), ``/api/show`` details, loaded models."""
    result: dict[str, Any] = {"changed": False}
    if "version" in gather:
        result["version"] = client.version()
    listed: list[dict[str, Any]] | None = None
    if "models" in gather or all_details or query:
        listed = client.tags()
        result["models_total"] = len(listed)
        shown = listed
        if query:
            shown = jmespath.search(query, listed)
            if not isinstance(shown, list):
                raise ModelParameterError(
                    f"query {query!r} returned {type(shown).__name__}, not a list; filter the list, "
                    'e.g. "[?size > `1000000`]" or "[?contains(name, \'llama\')]"'
                )
        result["models"] = shown
    if "details" in gather:
        targets: list[tuple[str, str]] = [(n.display, n.display) for n in names]
        if all_details and listed is not None:
            source = result["models"] if query else listed
            for entry in source:
                if isinstance(entry, dict) and (entry.get("name") or entry.get("model")):
                    listed_name = str(entry.get("name") or entry.get("model"))
                    if all(model_key(listed_name) != model_key(t[0]) for t in targets):
                        targets.append((listed_name, listed_name))
        details: dict[str, Any] = {}
        missing: list[str] = []
        for label, name in targets:
            try:
                show = client.show(name)
            except OllamaNotFound:
                details[label] = None
                missing.append(label)
                continue
            if not include_tensors:
                show.pop("tensors", None)
            details[label] = show
        result["details"] = details
        result["missing"] = missing
    if "loaded" in gather:
        result["loaded"] = client.ps()
    result["api_calls"] = list(client.requests_made)
    return result


def run_info_module(module: AnsibleModule, client_factory: ClientFactory | None = None) -> None:
    """``mlops.ollama.ollama_model_info``."""
    _require_httpx(module)
    p = module.params
    if p.get("query") and not HAS_JMESPATH:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("jmespath") + " (needed by the query option)", exception=JMESPATH_IMPORT_ERROR)
    try:
        names = [parse_model_name(n, param=f"models[{i}]") for i, n in enumerate(p["models"] or [])]
        if p.get("query"):
            try:
                jmespath.compile(p["query"])
            except jmespath.exceptions.JMESPathError as exc:
                raise ModelParameterError(f"query {p['query']!r} is not a valid JMESPath expression: {exc}") from None
        client = _make_client(module, client_factory)
    except (ModelParameterError, OllamaParameterError) as exc:
        _fail(module, exc, changed=False)
    try:
        result = gather_info(
            client, gather=list(p["gather"]), names=names, all_details=bool(p["all_details"]), query=p.get("query"), include_tensors=bool(p["include_tensors"])
        )
    except (OllamaError, ModelParameterError) as exc:
        _fail(module, exc, changed=False, api_calls=list(client.requests_made))
    module.exit_json(**result)
