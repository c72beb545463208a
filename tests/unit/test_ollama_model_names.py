"""Pure parts of mlops.ollama's model management: names, digests, declared entries, progress accounting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_models as om
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_models import ModelParameterError

# --------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "display"),
    [
        ("llama3.2", "llama3.2:latest"),
        ("llama3.2:1b", "llama3.2:1b"),
        ("library/llama3.2:1b", "llama3.2:1b"),
        ("registry.ollama.ai/library/llama3.2", "llama3.2:latest"),
        ("REGISTRY.OLLAMA.AI/library/qwen2.5:0.5b", "qwen2.5:0.5b"),
        ("someone/model", "someone/model:latest"),
        ("registry.ollama.ai/someone/model:v1", "someone/model:v1"),
        ("127.0.0.1:25000/mlops/tiny-a", "127.0.0.1:25000/mlops/tiny-a:latest"),
        ("127.0.0.1:25000/mlops/tiny-a:latest", "127.0.0.1:25000/mlops/tiny-a:latest"),
        ("registry.example.com:5000/team/model_x:v1.2-rc", "registry.example.com:5000/team/model_x:v1.2-rc"),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"),
        ("_x", "_x:latest"),
        ("ns.with.dots/x/y:z", "ns.with.dots/x/y:z"),
        ("m" * 80, "m" * 80 + ":latest"),
    ],
)
def test_valid_names_normalise_as_ollama_lists_them(name: str, display: str) -> None:
    assert om.normalize_model_name(name) == display


def test_keys_compare_case_insensitively() -> None:
    assert om.parse_model_name("Llama3.2:1B").key == om.parse_model_name("llama3.2:1b").key == "llama3.2:1b"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("   ", "whitespace"),
        ("llama 3", "whitespace"),
        ("llama3\n", "whitespace"),
        ("../x", "path"),
        ("./model", "path"),
        ("/etc/passwd", "path"),
        ("a/../b", "path"),
        ("x" * 300, "300 characters"),
        ("m" * 81, "at most 80"),
        ("llama3:" + "t" * 81, "at most 80"),
        ("llama3:", "tag after ':' is empty"),
        ("http://registry:5000/ns/model", "scheme"),
        ("model@sha256:" + "0" * 64, "digest references"),
        ("registry.example.com/model", "needs a namespace"),
        ("127.0.0.1:25000/model", "needs a namespace"),
        ("a/b/c/d", "at most 3"),
        ("a//b", "empty part"),
        ("-model", "starts with"),
    ],
)
def test_invalid_names_are_rejected_with_the_reason(name: str, why: str) -> None:
    with pytest.raises(ModelParameterError) as info:
        om.parse_model_name(name, param="name")
    text = str(info.value)
    assert text.startswith("name ")
    assert why in text
    assert "[registry/][namespace/]model[:tag]" in text


def test_long_names_are_shortened_in_messages() -> None:
    with pytest.raises(ModelParameterError) as info:
        om.parse_model_name("x" * 300)
    assert len(str(info.value)) < 400


def test_non_strings_are_rejected() -> None:
    with pytest.raises(ModelParameterError, match="must be a string"):
        om.parse_model_name(["llama3"], param="models[0]")


def test_the_pattern_is_the_documented_one() -> None:
    assert om.MODEL_NAME_RE.pattern == om.MODEL_NAME_PATTERN
    match = om.MODEL_NAME_RE.fullmatch("a/b")
    assert match is not None and match.group("registry") is None and match.group("namespace") == "a"


TAGS = [
    {"name": "llama3.2:1b", "model": "llama3.2:1b", "digest": "a" * 64, "size": 1, "modified_at": "t"},
    {"name": "127.0.0.1:25000/mlops/tiny-a:latest", "model": "127.0.0.1:25000/mlops/tiny-a:latest", "digest": "b" * 64, "size": 2, "modified_at": "t"},
]


@pytest.mark.parametrize(
    ("name", "digest"),
    [
        ("llama3.2:1b", "a" * 64),
        ("library/llama3.2:1b", "a" * 64),
        ("LLAMA3.2:1b", "a" * 64),
        ("127.0.0.1:25000/mlops/tiny-a", "b" * 64),
        ("llama3.2", None),
        ("127.0.0.1:25000/mlops/tiny-b", None),
    ],
)
def test_find_model(name: str, digest: str | None) -> None:
    entry = om.find_model(TAGS, name)
    assert (entry or {}).get("digest") == digest


# --------------------------------------------------------------------------------------
# Digests
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sha256:" + "A" * 64, "a" * 64),
        ("a" * 64, "a" * 64),
        ("103b7bf2e96b", "103b7bf2e96b"),
        (None, None),
        ("", None),
    ],
)
def test_pinned_digests(value: str | None, expected: str | None) -> None:
    assert om.parse_pinned_digest(value) == expected


@pytest.mark.parametrize("value", ["sha256:xyz", "103b7bf2e9", "a" * 65, "md5:" + "a" * 32])
def test_bad_pinned_digests(value: str) -> None:
    with pytest.raises(ModelParameterError, match="digest"):
        om.parse_pinned_digest(value)


def test_digest_matching() -> None:
    assert om.digest_matches(None, None)
    assert om.digest_matches("103b7bf2e96b", "103b7bf2e96b" + "0" * 52)
    assert not om.digest_matches("103b7bf2e96c", "103b7bf2e96b" + "0" * 52)
    assert not om.digest_matches("103b7bf2e96b", None)


def test_weights_layer_from_show() -> None:
    modelfile = '# Modelfile generated by "ollama show"\n# FROM x:latest\n\nFROM /models/blobs/sha256-' + "c" * 64 + "\nTEMPLATE {{ .Prompt }}\n"
    assert om.weights_layer({"modelfile": modelfile}) == "sha256:" + "c" * 64
    assert om.weights_layer({"modelfile": "FROM llama3\n"}) is None
    assert om.weights_layer({}) is None


# --------------------------------------------------------------------------------------
# Declared entries
# --------------------------------------------------------------------------------------


def test_declared_entries() -> None:
    declared = om.parse_declared_models(
        ["llama3.2", {"name": "reg:5000/ns/m:v1", "state": "latest", "digest": "sha256:" + "d" * 64, "insecure": "yes"}, {"name": "old", "state": "absent"}],
        default_state="present",
        default_insecure=False,
    )
    assert [(d.name.display, d.state, d.digest, d.insecure) for d in declared] == [
        ("llama3.2:latest", "present", None, False),
        ("reg:5000/ns/m:v1", "latest", "d" * 64, True),
        ("old:latest", "absent", None, False),
    ]


@pytest.mark.parametrize(
    ("items", "word"),
    [
        ([42], "models[0] must be a model name"),
        ([{"state": "present"}], "models[0] has no name"),
        ([{"name": "x", "tag": "y"}], "unknown key"),
        ([{"name": "x", "state": "gone"}], "models[0].state"),
        ([{"name": "x", "insecure": "maybe"}], "models[0].insecure"),
        ([{"name": "x", "state": "absent", "digest": "a" * 64}], "not absent"),
        (["ok", "../bad"], "models[1] '../bad'"),
        ([{"name": "x", "digest": "zz"}], "models[0].digest"),
    ],
)
def test_bad_declared_entries(items: list[Any], word: str) -> None:
    with pytest.raises(ModelParameterError) as info:
        om.parse_declared_models(items, default_state="present", default_insecure=False)
    assert word in str(info.value)


def test_a_model_declared_twice_is_rejected() -> None:
    declared = om.parse_declared_models(["llama3.2", "library/llama3.2:latest"], default_state="present", default_insecure=False)
    with pytest.raises(ModelParameterError, match="declared more than once"):
        om.ModelSync(client=None, declared=declared, options=om.SyncOptions())  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Progress accounting and the progress file
# --------------------------------------------------------------------------------------

LAYER_A = "sha256:" + "a" * 64
LAYER_B = "sha256:" + "b" * 64


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_counts_downloaded_bytes_not_cached_layers(tmp_path: Path) -> None:
    clock = Clock()
    progress = om.PullProgress(path=str(tmp_path / "p.json"), interval=2.0, clock=clock)
    progress.begin("m:latest")
    progress.start_attempt(1)
    progress.update({"status": "pulling manifest"})
    # Layer A: already on the server (one line, complete) -> 0 bytes.
    progress.update({"status": "pulling aaaaaaaaaaaa", "digest": LAYER_A, "total": 1000, "completed": 1000})
    # Layer B: downloaded from 0 to 5000 over 5 s.
    for second in range(6):
        clock.now = float(second)
        progress.update({"status": "pulling bbbbbbbbbbbb", "digest": LAYER_B, "total": 5000, "completed": second * 1000})
    facts = progress.snapshot()
    assert (facts["completed"], facts["total"], facts["percent"]) == (6000, 6000, 100.0)
    assert facts["rate_bytes_per_s"] == pytest.approx(1000.0, rel=0.2)
    progress.finish()
    assert progress.model_pulled_bytes == 5000
    written = json.loads((tmp_path / "p.json").read_text())
    assert written["state"] == "done" and written["pulled_bytes"] == 5000
    assert set(written) >= {"model", "state", "status", "completed", "total", "percent", "rate_bytes_per_s", "eta_s", "updated_at", "line", "pid"}


def test_progress_file_is_throttled_and_refreshed_on_heartbeat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    path = tmp_path / "p.json"
    progress = om.PullProgress(path=str(path), interval=2.0, clock=clock)
    progress.begin("m:latest")
    progress.start_attempt(1)
    writes: list[str] = []
    original = om.write_json_atomically

    def spy(target: str, data: dict[str, Any]) -> None:
        writes.append(data["line"])
        original(target, data)

    monkeypatch.setattr(om, "write_json_atomically", spy)
    for tick in range(40):  # 4 s of lines every 100 ms
        clock.now = tick / 10
        progress.update({"status": "pulling bbbbbbbbbbbb", "digest": LAYER_B, "total": 4000, "completed": tick * 100})
    assert len(writes) == 1  # at 2.0 s, not 40 times
    clock.now = 10.0
    progress.heartbeat()  # a silent phase (verifying): still rewritten
    assert len(writes) == 2
    assert json.loads(path.read_text())["elapsed_s"] == 10.0
    progress.update({"status": "verifying sha256 digest"})  # a phase change is written at once
    assert len(writes) == 3 and json.loads(path.read_text())["state"] == "verifying"


def test_a_layer_is_counted_once_across_retries() -> None:
    progress = om.PullProgress()
    progress.begin("m:latest")
    progress.start_attempt(1)
    for done in (0, 400, 800):
        progress.update({"status": "pulling bbbbbbbbbbbb", "digest": LAYER_B, "total": 2000, "completed": done})
    progress.start_attempt(2)  # Ollama resumes the layer from the 600 bytes it had saved
    for done in (600, 1400, 2000):
        progress.update({"status": "pulling bbbbbbbbbbbb", "digest": LAYER_B, "total": 2000, "completed": done})
    progress.finish()
    assert progress.model_pulled_bytes == progress.pulled_bytes == 2000


def test_layers_first_seen_complete() -> None:
    """One complete line is a layer the server had; several are a download that finished at once."""
    progress = om.PullProgress()
    progress.begin("m:latest")
    progress.start_attempt(1)
    progress.update({"status": "pulling aaaaaaaaaaaa", "digest": LAYER_A, "total": 1000, "completed": 1000})
    for _line in range(3):
        progress.update({"status": "pulling bbbbbbbbbbbb", "digest": LAYER_B, "total": 700, "completed": 700})
    progress.start_attempt(2)  # later attempts report both again: nothing more is counted
    for _line in range(3):
        progress.update({"status": "pulling aaaaaaaaaaaa", "digest": LAYER_A, "total": 1000, "completed": 1000})
        progress.update({"status": "pulling bbbbbbbbbbbb", "digest": LAYER_B, "total": 700, "completed": 700})
    assert progress.model_pulled_bytes == 700
    assert progress.reported_layers == {LAYER_A, LAYER_B}


def test_pulled_bytes_add_up_over_models() -> None:
    progress = om.PullProgress()
    for model, size in (("a:latest", 300), ("b:latest", 500)):
        progress.begin(model)
        progress.start_attempt(1)
        for done in (0, size):
            progress.update({"status": "pulling x", "digest": "sha256:" + model[0] * 64, "total": size, "completed": done})
        progress.finish()
        progress.finish()  # finishing twice counts once
    assert progress.pulled_bytes == 800


def test_progress_line_for_people() -> None:
    facts = {
        "index": 2,
        "count": 3,
        "model": "llama3.2:1b",
        "state": "pulling",
        "status": "pulling 74701a8c35f6",
        "completed": 541_200_000,
        "total": 1_310_000_000,
        "percent": 41.3,
        "rate_bytes_per_s": 48_100_000.0,
        "eta_s": 16.0,
        "elapsed_s": 12.0,
        "attempt": 1,
        "error": None,
    }
    assert om.PullProgress.line(facts) == "[2/3] llama3.2:1b: pulling 41.3%, 541.2 MB of 1.3 GB, 48.1 MB/s, ETA 16 s, 12 s elapsed"


@pytest.mark.parametrize(("count", "text"), [(0, "0 B"), (999, "999 B"), (474683, "474.7 KB"), (1_321_098_329, "1.3 GB"), (None, "?")])
def test_human_bytes(count: int | None, text: str) -> None:
    assert om.human_bytes(count) == text
