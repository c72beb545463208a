"""Shared pytest fixtures: the collection on sys.path, and the local stack's real servers.

Tests that need a server use the local stack (`hack/stack up`); when it is not
up they fail with the command to run, never skip.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build"
COLLECTION_LINK = BUILD / "ansible_collections" / "mlops" / "ollama"


def _link_collection() -> None:
    """Make the checkout importable as ansible_collections.mlops.ollama (what Ansible itself sees)."""
    COLLECTION_LINK.parent.mkdir(parents=True, exist_ok=True)
    if not COLLECTION_LINK.is_symlink():
        COLLECTION_LINK.symlink_to(REPO, target_is_directory=True)
    if str(BUILD) not in sys.path:
        sys.path.insert(0, str(BUILD))
    os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(BUILD))
    hack = str(REPO / "hack")
    if hack not in sys.path:
        sys.path.insert(0, hack)


_link_collection()

from localstack.config import StackConfig  # noqa: E402
from localstack.ollama import OllamaServer  # noqa: E402
from localstack.procs import free_port  # noqa: E402
from localstack.registry import Registry  # noqa: E402
from localstack.stack import StackInfo, load_info  # noqa: E402


@pytest.fixture(scope="session")
def stack() -> StackInfo:
    try:
        return load_info(StackConfig.from_env())
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def ollama_factory(stack: StackInfo, tmp_path: Path) -> Iterator[Callable[[], OllamaServer]]:
    """Start fresh Ollama servers (empty models dir, free port); all are stopped at teardown."""
    started: list[OllamaServer] = []

    def start() -> OllamaServer:
        port = free_port()
        server = OllamaServer(Path(stack.ollama_binary), port, tmp_path / f"models-{port}", tmp_path / "run", name=f"ollama-{port}")
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def registry_factory(stack: StackInfo, tmp_path: Path) -> Iterator[Callable[[], Registry]]:
    """Start extra registries serving the stack's stored models (blobs through the stack's nginx)."""
    started: list[Registry] = []

    def start() -> Registry:
        registry = Registry(
            Path(stack.registry_root), tmp_path / "registry-run", free_port(), stack.blobs_port, name=f"registry-{len(started)}", serve_blobs=False
        )
        started.append(registry)
        registry.start()
        return registry

    yield start
    for registry in started:
        registry.stop()


@pytest.fixture
def push_variant(stack: StackInfo, ollama_factory: Callable[[], OllamaServer], tmp_path: Path) -> Callable[[str, int], str]:
    """Push a new tiny model (generator seed ``seed``) to the stack's registry as ``name``; returns the full name.

    The model is created in a throwaway Ollama so the stack's own server is untouched.
    """
    from localstack import tinymodels

    def push(name: str, seed: int) -> str:
        builder = ollama_factory()
        full = f"{stack.registry_host}/{name}"
        gguf = tinymodels.write_gguf(tmp_path / f"variant-{seed}.gguf", seed=seed, name=f"variant-{seed}")
        tinymodels.create_model(builder.url, full, gguf)
        tinymodels.push_model(builder.url, full, insecure=True)
        return full

    return push


ModuleRunner = Callable[..., dict]


def _forget_warnings() -> None:
    """Ansible keeps a module's warnings in process-wide state; one test's must not show in the next one's result."""
    from ansible.module_utils.common import warnings

    for name in ("_global_warnings", "_global_deprecations"):
        store = getattr(warnings, name, None)
        if store is not None:
            store.clear()


@pytest.fixture
def run_module(capsys: pytest.CaptureFixture[str]) -> ModuleRunner:
    """Run a module's real ``main()`` as Ansible does (arguments through patch_module_args) and return its result.

    ``run_module("ollama_models", {...}, check_mode=True, diff=True)``. A module that needs an injected
    transport or client gets it through the test's own monkeypatching, never through another entry point.
    """
    import importlib
    import json

    from ansible.module_utils.basic import AnsibleModule
    from ansible.module_utils.testing import patch_module_args

    def run(name: str, args: dict, *, check_mode: bool = False, diff: bool = False) -> dict:
        module = importlib.import_module(f"ansible_collections.mlops.ollama.plugins.modules.{name}")
        args = dict(args)
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        capsys.readouterr()
        _forget_warnings()
        shown: list[str] = []
        real_warn = AnsibleModule.warn

        def warn(self: AnsibleModule, warning: str, *more: object, **options: object) -> None:
            shown.append(warning)
            real_warn(self, warning, *more, **options)

        AnsibleModule.warn = warn  # type: ignore[method-assign]
        try:
            with patch_module_args(args), pytest.raises(SystemExit):
                module.main()
        finally:
            AnsibleModule.warn = real_warn  # type: ignore[method-assign]
        result = json.loads(capsys.readouterr().out)
        # Once controller code is imported in the same process, Ansible stops putting warnings in the
        # result; the warnings the module gave are what a playbook run would show.
        if shown and not result.get("warnings"):
            result["warnings"] = shown
        return result

    return run
