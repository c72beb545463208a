"""Fixtures shared by the tests that talk to the local stack's API server."""

from __future__ import annotations

import pytest
from kubernetes import config


@pytest.fixture(scope="module")
def kube(stack):
    """An API client with the stack's administrator kubeconfig."""
    return config.new_client_from_config(config_file=stack.kubeconfig)


@pytest.fixture
def real_node_namespace(stack, kube, request):
    """A namespace of its own enforcing the restricted Pod Security profile, for pods on the stack's real node."""
    import secrets

    from k8s_live import wait_for
    from kubernetes import client

    if not stack.real_node:
        pytest.fail("the local stack has no real node (stack.json: real_node is empty); see `hack/stack status`", pytrace=False)
    core = client.CoreV1Api(kube)
    prefix = request.module.__name__.removeprefix("test_real_node").strip("_").replace("_", "-") or "real"
    name = f"{prefix}-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    yield name
    core.delete_namespace(name, grace_period_seconds=0)
    wait_for(lambda: name not in [n.metadata.name for n in core.list_namespace().items], 120, f"namespace {name} to go")
