# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declared models against the models a server has: the plan, the pulls and deletions, the result.

PRIVATE: this file is not part of the collection's public API and may change at
any time. The public surfaces built on it are the ``mlops.ollama.ollama_model`` and
``mlops.ollama.ollama_models`` modules: ``prepare_model`` / ``prepare_models`` check their
options before any request, and ``execute_sync`` runs the sync through the module runner.

``state: latest`` compares the manifest digest before and after the pull: ``changed`` only
when it differs. In check mode the registry is asked for the tag's manifest digest to
predict that (``_ollama_registry``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import OllamaClient, OllamaError, OllamaNotFound, OllamaUnreachable
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_names import (
    ModelName,
    ModelParameterError,
    digest_hex,
    digest_matches,
    find_model,
    model_facts,
    model_key,
    model_listing,
    parse_model_name,
    parse_pinned_digest,
)
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_pull import PullProgress, PullReport, check_pull_params, pull_with_resume, verify_pull
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_registry import RegistryLookupError, registry_manifest_digest

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.mlops.ollama.plugins.module_utils._ollama_module import ModuleRun

STATES = ("present", "latest", "absent")
ENTRY_KEYS = ("name", "state", "digest", "insecure")
# Registry lookups in check mode wait at most this long, whatever the read timeout.
MAX_REGISTRY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DeclaredModel:
    name: ModelName
    state: str = "present"
    digest: str | None = None
    insecure: bool = False


@dataclass
class SyncOptions:
    prune: bool = False
    prune_all: bool = False
    check_mode: bool = False
    stall_timeout: float = 300.0
    attempts: int = 4
    backoff: float = 1.0
    registry_timeout: float = 10.0


def check_declared_set(declared: list[DeclaredModel], options: SyncOptions) -> None:
    """Refuse a set that declares a model twice, or a prune that would delete every model without ``prune_all``."""
    keys: set[str] = set()
    for item in declared:
        if item.name.key in keys:
            raise ModelParameterError(
                f"model {item.name.display!r} is declared more than once (names compare as Ollama compares them: "
                "case-insensitively, with the default tag, namespace and registry filled in); declare each model once"
            )
        keys.add(item.name.key)
    kept = [item for item in declared if item.state != "absent"]
    if options.prune and not kept and not options.prune_all:
        raise ModelParameterError(
            "prune: true with no model declared present or latest would delete every model on the server; "
            "declare the models to keep in models, or set prune_all: true to delete them all"
        )


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
        check_declared_set(declared, options)
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
        for item in self.declared:
            entry = find_model(tags, item.name)
            outcome = ModelOutcome(
                name=item.name.display, state=item.state, model=model_facts(entry), digest_before=digest_hex(entry.get("digest")) if entry else None
            )
            outcome.digest_after = outcome.digest_before
            self.outcomes.append(outcome)
            if item.state == "absent":
                if self._plan_absent(entry, outcome):
                    deletes.append(outcome)
            elif self._plan_pull(item, entry, outcome):
                pulls.append((item, outcome))
        if self.options.prune:
            deletes.extend(self._plan_prune(tags))
        return pulls, deletes

    @staticmethod
    def _plan_absent(entry: dict[str, Any] | None, outcome: ModelOutcome) -> bool:
        if entry is None:
            outcome.reason = "already absent"
            return False
        outcome.action, outcome.changed, outcome.reason = "delete", True, "present, declared absent"
        outcome.name = str(outcome.model["name"]) if outcome.model else outcome.name
        return True

    def _plan_pull(self, item: DeclaredModel, entry: dict[str, Any] | None, outcome: ModelOutcome) -> bool:
        """Whether ``item`` (present or latest) is pulled; sets the outcome's prediction."""
        if item.state == "present":
            if entry is None:
                outcome.action, outcome.changed, outcome.reason = "pull", True, "not on the server"
            elif not digest_matches(item.digest, outcome.digest_before):
                outcome.action, outcome.changed, outcome.reason = "pull", True, f"present with digest {outcome.digest_before}, not the pinned {item.digest}"
            else:
                outcome.reason = "already present" + (" with the pinned digest" if item.digest else "")
            return outcome.action == "pull"
        # latest: always pull for real; in check mode, predict from the registry.
        outcome.action = "pull"
        if entry is None:
            outcome.changed, outcome.reason = True, "not on the server"
        elif self.options.check_mode:
            self._predict_latest(item, outcome)
        else:
            outcome.reason = "state latest: pull to compare digests"
        return True

    def _plan_prune(self, tags: list[dict[str, Any]]) -> list[ModelOutcome]:
        declared_keys = {d.name.key for d in self.declared}
        pruned: list[ModelOutcome] = []
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
            pruned.append(outcome)
        return pruned

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
            self._pull_all(pulls)
            for index, outcome in enumerate(deletes, start=1):
                self._delete(outcome, index=index, count=len(deletes))
            self.after = self.client.tags() if self.changed else tags
        finally:
            self.duration_s = self.clock() - start

    def _pull_all(self, pulls: list[tuple[DeclaredModel, ModelOutcome]]) -> None:
        """Every pull, even after one failed; then the first failure is raised (so nothing gets deleted)."""
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
        if not failures:
            return
        first = failures[0][1]
        if len(pulls) > 1:
            first.message += (
                f" [{len(failures)} of {len(pulls)} pulls failed ({', '.join(n for n, _exc in failures)}); "
                f"the other declared models were synced; nothing was deleted]"
            )
        raise first

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
# The modules' options and results (run by _ollama_module.run_ollama_module)
# --------------------------------------------------------------------------------------


@dataclass
class SyncJob:
    """What a module run syncs, every option checked: built before any client or request."""

    declared: list[DeclaredModel]
    options: SyncOptions
    progress_file: str | None
    progress_interval: float
    shape: Callable[[ModelSync], dict[str, Any]]


def _sync_job(params: dict[str, Any], check_mode: bool, declared: list[DeclaredModel], shape: Callable[[ModelSync], dict[str, Any]]) -> SyncJob:
    pull = check_pull_params(params)
    options = SyncOptions(
        prune=bool(params.get("prune")),
        prune_all=bool(params.get("prune_all")),
        check_mode=check_mode,
        stall_timeout=pull.stall_timeout,
        attempts=int(params.get("retries") or 0) + 1,
        backoff=float(params.get("retry_backoff") or 0.0),
        registry_timeout=min(float(params.get("timeout") or 10.0), MAX_REGISTRY_TIMEOUT_S),
    )
    check_declared_set(declared, options)
    return SyncJob(declared, options, pull.progress_file, pull.progress_interval, shape)


def prepare_model(params: dict[str, Any], check_mode: bool) -> SyncJob:
    """``mlops.ollama.ollama_model``: one model, present / latest / absent."""
    name = parse_model_name(params["name"])
    digest = parse_pinned_digest(params.get("digest"))
    if params["state"] == "absent" and digest:
        raise ModelParameterError("digest applies to state present or latest, not absent; remove digest or change state")
    declared = [DeclaredModel(name, params["state"], digest, bool(params["insecure"]))]
    return _sync_job(params, check_mode, declared, single_result)


def prepare_models(params: dict[str, Any], check_mode: bool) -> SyncJob:
    """``mlops.ollama.ollama_models``: a declared set, optionally pruning the rest."""
    declared = parse_declared_models(params["models"] or [], default_state=params["state"], default_insecure=bool(params["insecure"]))
    return _sync_job(params, check_mode, declared, ModelSync.result)


def execute_sync(run: ModuleRun, job: SyncJob) -> dict[str, Any]:
    """Run the sync; a failure keeps what was done so far in the result."""
    progress = PullProgress(path=job.progress_file, interval=job.progress_interval)
    sync = ModelSync(run.client, job.declared, job.options, progress=progress, warn=run.warn)
    try:
        sync.run()
    except (OllamaError, OSError) as exc:  # OSError: the progress file could not be written
        run.fail(exc, **job.shape(sync))
    result = job.shape(sync)
    if run.diff:
        result["diff"] = sync.diff()
    return result


def single_result(sync: ModelSync) -> dict[str, Any]:
    """``ollama_model``'s result: the one model's outcome at the top level."""
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


def parse_declared_models(items: list[Any], *, default_state: str, default_insecure: bool) -> list[DeclaredModel]:
    """``models:`` entries: a name, or ``{name, state, digest, insecure}``."""
    declared: list[DeclaredModel] = []
    for index, item in enumerate(items):
        where = f"models[{index}]"
        if isinstance(item, str):
            declared.append(DeclaredModel(parse_model_name(item, param=where), default_state, None, default_insecure))
        elif isinstance(item, dict):
            declared.append(_declared_entry(item, where, default_state=default_state, default_insecure=default_insecure))
        else:
            raise ModelParameterError(f"{where} must be a model name or a dict with name (and optionally state, digest, insecure), got {type(item).__name__}")
    return declared


def _declared_entry(item: dict[Any, Any], where: str, *, default_state: str, default_insecure: bool) -> DeclaredModel:
    unknown = set(item) - set(ENTRY_KEYS)
    if unknown:
        raise ModelParameterError(f"{where} has unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: {', '.join(ENTRY_KEYS)}")
    if item.get("name") in (None, ""):
        raise ModelParameterError(f"{where}.name is required: give the model's name, e.g. {{name: llama3.2:1b, state: present}}")
    state = item.get("state") or default_state
    if state not in STATES:
        raise ModelParameterError(f"{where}.state must be one of {', '.join(STATES)}, got {state!r}")
    digest = parse_pinned_digest(item.get("digest"), param=f"{where}.digest")
    if state == "absent" and digest:
        raise ModelParameterError(f"{where}: digest applies to state present or latest, not absent")
    insecure = _boolean(item.get("insecure", default_insecure), f"{where}.insecure")
    return DeclaredModel(parse_model_name(item["name"], param=f"{where}.name"), state, digest, insecure)


def _boolean(value: Any, param: str) -> bool:
    if isinstance(value, bool):
        return value
    from ansible.module_utils.parsing.convert_bool import boolean

    try:
        return boolean(value)
    except TypeError:
        raise ModelParameterError(f"{param} must be a boolean, got {value!r}") from None
