"""Tiny, seeded GGUF models and the real Ollama API calls that create, push and try them.

The local stack cannot download models (no internet beyond package registries), and
tests must not depend on a multi-GB download anyway. So we *generate* models: a
llama-architecture GGUF of a few hundred KB with random weights, written with the
`gguf` package. It loads in Ollama's llama.cpp runner and generates (gibberish), which is
all the collection's tests need: a model that can be created, listed, shown, pushed to
and pulled from a registry, and asked for a completion.

Seeded weights make a model reproducible (same seed and name -> byte-identical file, so
the same blob digest) and let tests make a second, *distinct* model just by changing the
seed (a different digest, which is what an "update the model" scenario needs).

Everything goes through Ollama's public HTTP API the way the `ollama` CLI does it in
v0.11.x: upload the blob, then `/api/create` with `files`. No shortcuts into Ollama's
models directory, so the stack exercises the same path a user's server takes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gguf
import httpx
import numpy as np

from .config import REPO_ROOT
from .log import step

# Shape of every tiny model. Checked with llama.cpp and with Ollama v0.11.4's llama runner.
CONTEXT_LENGTH = 256
EMBEDDING_LENGTH = 64
BLOCK_COUNT = 2
FEED_FORWARD_LENGTH = 128
HEAD_COUNT = 4
HEAD_COUNT_KV = 4
ROPE_DIMENSION_COUNT = EMBEDDING_LENGTH // HEAD_COUNT  # 16: the head size, as llama.cpp would default it
ROPE_FREQ_BASE = 10000.0
RMS_EPS = 1e-5
FILE_TYPE_F32 = 0
WEIGHT_STD = 0.02

UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>"]
# A handful of whole words so some completions are readable; "▁" is SentencePiece's word-start marker.
WORD_TOKENS = ["▁hello", "▁world", "▁the", "▁model", "▁tiny", "▁ollama", "▁test", "▁ok", "."]

# Prompt template: the raw prompt, nothing else. v0.11.4 would fall back to this same
# default, but setting it stores a template layer, so `/api/show` reports it and the
# behaviour does not hang on a server default that may change between versions.
TEMPLATE = "{{ .Prompt }}"
PARAMETERS: dict[str, Any] = {"num_ctx": CONTEXT_LENGTH}

# Explicit timeouts for every call: a wedged server must fail a test, never hang it.
# Loading a model starts a runner process, hence the generous read timeouts.
QUICK_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
CREATE_TIMEOUT = httpx.Timeout(120.0, connect=5.0)
GENERATE_TIMEOUT = httpx.Timeout(120.0, connect=5.0)
PUSH_TIMEOUT = httpx.Timeout(300.0, connect=5.0)


def vocabulary() -> tuple[list[str], list[int]]:
    """The tokens and their types, in id order.

    A llama (SentencePiece) vocabulary with byte fallback: the three specials, then all 256
    `<0xXX>` byte tokens so any prompt tokenizes (llama.cpp also looks up `<0x0A>` for the
    newline id), then a few words.
    """
    tokens = [*SPECIAL_TOKENS, *(f"<0x{b:02X}>" for b in range(256)), *WORD_TOKENS]
    types = [
        int(gguf.TokenType.UNKNOWN),
        int(gguf.TokenType.CONTROL),
        int(gguf.TokenType.CONTROL),
        *[int(gguf.TokenType.BYTE)] * 256,
        *[int(gguf.TokenType.NORMAL)] * len(WORD_TOKENS),
    ]
    return tokens, types


def write_gguf(path: Path, *, seed: int, name: str) -> Path:
    """Write a tiny llama GGUF (F32, random weights from ``seed``) to ``path`` and return ``path``.

    The same ``seed`` and ``name`` always give a byte-identical file; a different seed gives
    different weights and so a different blob digest in Ollama. The file is written to a
    temporary name first and renamed, so a crash never leaves a half file that a later run
    would take for a cached model.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens, types = vocabulary()
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        return rng.normal(0.0, WEIGHT_STD, size=shape).astype(np.float32)

    def norm() -> np.ndarray:
        return np.ones(EMBEDDING_LENGTH, dtype=np.float32)

    # numpy shapes are the reverse of GGML's `ne` (e.g. token_embd is ne {n_embd, n_vocab}).
    tensors: list[tuple[str, np.ndarray]] = [("token_embd.weight", weights(len(tokens), EMBEDDING_LENGTH))]
    for block in range(BLOCK_COUNT):
        prefix = f"blk.{block}"
        tensors += [
            (f"{prefix}.attn_norm.weight", norm()),
            (f"{prefix}.attn_q.weight", weights(EMBEDDING_LENGTH, EMBEDDING_LENGTH)),
            (f"{prefix}.attn_k.weight", weights(HEAD_COUNT_KV * (EMBEDDING_LENGTH // HEAD_COUNT), EMBEDDING_LENGTH)),
            (f"{prefix}.attn_v.weight", weights(HEAD_COUNT_KV * (EMBEDDING_LENGTH // HEAD_COUNT), EMBEDDING_LENGTH)),
            (f"{prefix}.attn_output.weight", weights(EMBEDDING_LENGTH, EMBEDDING_LENGTH)),
            (f"{prefix}.ffn_norm.weight", norm()),
            (f"{prefix}.ffn_gate.weight", weights(FEED_FORWARD_LENGTH, EMBEDDING_LENGTH)),
            (f"{prefix}.ffn_up.weight", weights(FEED_FORWARD_LENGTH, EMBEDDING_LENGTH)),
            (f"{prefix}.ffn_down.weight", weights(EMBEDDING_LENGTH, FEED_FORWARD_LENGTH)),
        ]
    tensors += [("output_norm.weight", norm()), ("output.weight", weights(len(tokens), EMBEDDING_LENGTH))]

    tmp = path.with_name(path.name + ".tmp")
    writer = gguf.GGUFWriter(tmp, "llama")
    writer.add_name(name)
    writer.add_file_type(FILE_TYPE_F32)
    # Every hparam llama.cpp's llama loader reads (context, embedding, blocks, feed-forward and
    # heads are mandatory; RMS eps is mandatory for this architecture) plus the optional ones
    # spelled out so nothing depends on a loader's defaults.
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(EMBEDDING_LENGTH)
    writer.add_block_count(BLOCK_COUNT)
    writer.add_feed_forward_length(FEED_FORWARD_LENGTH)
    writer.add_head_count(HEAD_COUNT)
    writer.add_head_count_kv(HEAD_COUNT_KV)
    writer.add_rope_dimension_count(ROPE_DIMENSION_COUNT)
    writer.add_rope_freq_base(ROPE_FREQ_BASE)
    writer.add_layer_norm_rms_eps(RMS_EPS)
    writer.add_vocab_size(len(tokens))
    # Ollama's server reads `tokenizer.ggml.tokens` for its memory estimate; llama.cpp reads
    # the rest to build the SentencePiece vocabulary.
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types(types)
    writer.add_bos_token_id(BOS_ID)
    writer.add_eos_token_id(EOS_ID)
    writer.add_unk_token_id(UNK_ID)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    for tensor_name, data in tensors:
        writer.add_tensor(tensor_name, data)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    tmp.replace(path)
    return path


def sha256_digest(path: Path) -> str:
    """Ollama's name for a blob: ``sha256:<hex of the file's bytes>``."""
    sha = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return f"sha256:{sha.hexdigest()}"


@contextmanager
def _client(client: httpx.Client | None) -> Iterator[httpx.Client]:
    """Use the caller's client (tests may inject a transport) or a short-lived one of our own."""
    if client is not None:
        yield client
        return
    with httpx.Client() as own:
        yield own


def _error_text(response: httpx.Response) -> str:
    """The server's own words: Ollama answers errors as ``{"error": "..."}``."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return response.text.strip()


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.is_error:
        raise RuntimeError(f"{what} failed: HTTP {response.status_code}: {_error_text(response)}")
    return response


def _load_name_rule() -> Any:
    """The collection's own model-name rule (standard library only), loaded from the checkout, never copied."""
    path = REPO_ROOT / "plugins" / "module_utils" / "_ollama_names.py"
    spec = importlib.util.spec_from_file_location("mlops_ollama_names", path)
    if spec is None or spec.loader is None:  # pragma: no cover - the file ships with the checkout
        raise RuntimeError(f"cannot load the model-name rule from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


_names = _load_name_rule()


def normalize_name(name: str) -> str:
    """The key `/api/tags` lists a model under, as Ollama compares names (the collection's rule)."""
    return _names.model_key(name)


def model_digest(ollama_url: str, name: str, *, client: httpx.Client | None = None) -> str:
    """The digest `/api/tags` reports for ``name`` (the manifest's digest, what `ollama list` shows)."""
    wanted = normalize_name(name)
    with _client(client) as http:
        models = _check(http.get(f"{ollama_url}/api/tags", timeout=QUICK_TIMEOUT), "listing models (GET /api/tags)").json().get("models") or []
    for entry in models:
        if wanted in (normalize_name(entry.get("name", "")), normalize_name(entry.get("model", ""))):
            return str(entry["digest"])
    listed = ", ".join(sorted(str(m.get("name")) for m in models)) or "none"
    raise RuntimeError(f"model {name!r} is not listed by {ollama_url}/api/tags after creating it (listed: {listed})")


def upload_blob(ollama_url: str, path: Path, *, client: httpx.Client | None = None) -> str:
    """Upload ``path`` as a blob unless the server has it already; return its ``sha256:`` digest.

    `HEAD` first because re-creating the stack's models is common and the blob is then
    already there; the server checks the digest of what we send and refuses a mismatch.
    """
    digest = sha256_digest(path)
    url = f"{ollama_url}/api/blobs/{digest}"
    with _client(client) as http:
        head = http.head(url, timeout=QUICK_TIMEOUT)
        if head.status_code == 200:
            return digest
        if head.status_code != 404:
            _check(head, f"checking for blob {digest} (HEAD /api/blobs)")
        # The files are a few hundred KB: sending them in one body is simplest and lets httpx set Content-Length.
        _check(http.post(url, content=Path(path).read_bytes(), timeout=CREATE_TIMEOUT), f"uploading {path} as blob {digest} (POST /api/blobs)")
    return digest


def create_model(ollama_url: str, name: str, gguf_path: Path, *, client: httpx.Client | None = None) -> str:
    """Create model ``name`` from the GGUF at ``gguf_path`` through Ollama's real create path; return its digest.

    v0.11.x's `/api/create` no longer takes a Modelfile: the client uploads the GGUF as a
    blob and names it in ``files`` (file name -> blob digest; the ``.gguf`` suffix tells the
    server the format), with template and parameters as their own fields.
    """
    gguf_path = Path(gguf_path)
    step(f"creating Ollama model {name} from {gguf_path.name} ({gguf_path.stat().st_size} bytes)")
    with _client(client) as http:
        digest = upload_blob(ollama_url, gguf_path, client=http)
        body = {
            "model": name,
            "files": {f"{gguf_path.stem}.gguf": digest},
            "template": TEMPLATE,
            "parameters": PARAMETERS,
            "stream": False,
        }
        response = _check(http.post(f"{ollama_url}/api/create", json=body, timeout=CREATE_TIMEOUT), f"creating model {name} (POST /api/create)")
        status = response.json().get("status")
        if status != "success":
            raise RuntimeError(f"creating model {name} (POST /api/create) ended with status {status!r}, not 'success': {response.text.strip()}")
        return model_digest(ollama_url, name, client=http)


def push_model(ollama_url: str, name: str, *, insecure: bool = True, client: httpx.Client | None = None) -> None:
    """Push ``name`` to the registry its name points at, reading Ollama's NDJSON progress.

    ``insecure`` lets Ollama talk plain HTTP to the stack's loopback registry. Ollama reports
    failures as an ``{"error": ...}`` line inside a 200 stream, so every line is checked, and a
    stream that ends without ``success`` is a failure too.
    """
    step(f"pushing {name} from {ollama_url}")
    body = {"model": name, "insecure": insecure, "stream": True}
    last_status = None
    with _client(client) as http:
        with http.stream("POST", f"{ollama_url}/api/push", json=body, timeout=PUSH_TIMEOUT) as response:
            if response.is_error:
                response.read()
                raise RuntimeError(f"pushing {name} (POST /api/push) failed: HTTP {response.status_code}: {_error_text(response)}")
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise RuntimeError(f"pushing {name} (POST /api/push): unexpected line from the server: {line!r}") from None
                if event.get("error"):
                    raise RuntimeError(f"pushing {name} (POST /api/push) failed: {event['error']}")
                last_status = event.get("status", last_status)
    if last_status != "success":
        raise RuntimeError(f"pushing {name} (POST /api/push) ended without success (last status {last_status!r})")


def generate_smoke(ollama_url: str, name: str, *, client: httpx.Client | None = None) -> str:
    """Ask ``name`` for a short, deterministic completion and return its text.

    Proves the model really loads and runs in Ollama's runner, not only that it was stored.
    Seed 1 and temperature 0 keep the answer stable between runs; an empty answer means the
    model did not produce text and is an error.
    """
    body = {"model": name, "prompt": "hello", "stream": False, "options": {"num_predict": 8, "seed": 1, "temperature": 0}}
    with _client(client) as http:
        response = _check(http.post(f"{ollama_url}/api/generate", json=body, timeout=GENERATE_TIMEOUT), f"generating with {name} (POST /api/generate)")
    text = str(response.json().get("response") or "")
    if not text:
        raise RuntimeError(f"generating with {name} (POST /api/generate) returned no text: {response.text.strip()}")
    return text
