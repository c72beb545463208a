"""Fixtures shared by the tests that talk to the local stack's API server."""

from __future__ import annotations

import pytest
from kubernetes import config


@pytest.fixture(scope="module")
def kube(stack):
    """An API client with the stack's administrator kubeconfig."""
    return config.new_client_from_config(config_file=stack.kubeconfig)
