"""Unit tests of the local stack's tiny GGUF generator: the file parses, has the llama shape, and the seed decides it.

Pure: no server. That Ollama v0.11.4 creates, shows and runs these models is checked by
the stack itself (`hack/stack up` seeds its models with them and tries a generation).
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from localstack import tinymodels


def _field(reader: gguf.GGUFReader, key: str) -> object:
    field = reader.get_field(key)
    assert field is not None, f"{key} missing"
    return field.contents()


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    return (
        tinymodels.write_gguf(tmp_path / "a.gguf", seed=1, name="tiny-a"),
        tinymodels.write_gguf(tmp_path / "b.gguf", seed=2, name="tiny-b"),
    )


def test_files_parse_as_small_llama_models(pair: tuple[Path, Path]) -> None:
    expected_tensors = {"token_embd.weight", "output_norm.weight", "output.weight"} | {
        f"blk.{n}.{part}.weight"
        for n in range(tinymodels.BLOCK_COUNT)
        for part in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")
    }
    vocab = 3 + 256 + len(tinymodels.WORD_TOKENS)
    for path, name in zip(pair, ("tiny-a", "tiny-b"), strict=True):
        assert path.stat().st_size < 4 * 1024 * 1024
        reader = gguf.GGUFReader(path)
        assert _field(reader, "general.architecture") == "llama"
        assert _field(reader, "general.name") == name
        assert _field(reader, "general.file_type") == 0
        assert _field(reader, "llama.context_length") == 256
        assert _field(reader, "llama.embedding_length") == 64
        assert _field(reader, "llama.block_count") == 2
        assert _field(reader, "llama.feed_forward_length") == 128
        assert _field(reader, "llama.attention.head_count") == 4
        assert _field(reader, "llama.attention.head_count_kv") == 4
        assert _field(reader, "llama.rope.dimension_count") == 16
        assert _field(reader, "llama.attention.layer_norm_rms_epsilon") == pytest.approx(1e-5)
        assert _field(reader, "tokenizer.ggml.model") == "llama"

        tokens = _field(reader, "tokenizer.ggml.tokens")
        types = _field(reader, "tokenizer.ggml.token_type")
        assert isinstance(tokens, list) and isinstance(types, list)
        assert len(tokens) == len(types) == len(_field(reader, "tokenizer.ggml.scores")) == vocab  # type: ignore[arg-type]
        assert _field(reader, "llama.vocab_size") == vocab
        assert tokens[:3] == ["<unk>", "<s>", "</s>"] and types[:3] == [2, 3, 3]
        assert tokens[3:259] == [f"<0x{b:02X}>" for b in range(256)] and set(types[3:259]) == {6}
        assert set(types[259:]) == {1}
        special_ids = [_field(reader, f"tokenizer.ggml.{kind}_token_id") for kind in ("unknown", "bos", "eos")]
        assert special_ids == [0, 1, 2]

        tensors = {t.name: t for t in reader.tensors}
        assert set(tensors) == expected_tensors
        assert all(t.tensor_type == gguf.GGMLQuantizationType.F32 for t in tensors.values())
        # GGML's ne order: token_embd is {n_embd, n_vocab}, ffn_down {n_ff, n_embd}.
        assert list(tensors["token_embd.weight"].shape) == [64, vocab]
        assert list(tensors["blk.0.ffn_down.weight"].shape) == [128, 64]
        assert np.all(tensors["output_norm.weight"].data == 1.0)
        assert abs(float(np.std(tensors["output.weight"].data)) - 0.02) < 0.002


def test_same_seed_is_reproducible_and_another_seed_differs(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    a, b = pair
    again = tinymodels.write_gguf(tmp_path / "again.gguf", seed=1, name="tiny-a")
    assert again.read_bytes() == a.read_bytes()
    assert tinymodels.sha256_digest(a) != tinymodels.sha256_digest(b)
    weights_a = {t.name: np.array(t.data) for t in gguf.GGUFReader(a).tensors}
    weights_b = {t.name: np.array(t.data) for t in gguf.GGUFReader(b).tensors}
    assert not np.array_equal(weights_a["token_embd.weight"], weights_b["token_embd.weight"])
    assert not list(tmp_path.glob("*.tmp")), "the writer leaves no temporary files behind"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tiny-a", "tiny-a:latest"),
        ("Tiny-A:V1", "tiny-a:v1"),
        ("library/tiny-a", "tiny-a:latest"),
        ("registry.ollama.ai/library/tiny-a:x", "tiny-a:x"),
        ("127.0.0.1:25000/mlops/tiny-a", "127.0.0.1:25000/mlops/tiny-a:latest"),
        ("127.0.0.1:25000/mlops/tiny-a:latest", "127.0.0.1:25000/mlops/tiny-a:latest"),
    ],
)
def test_normalize_name_matches_how_api_tags_lists_models(name: str, expected: str) -> None:
    assert tinymodels.normalize_name(name) == expected
