"""Progress output for long steps: a person running `hack/stack up` must see what happens."""

from __future__ import annotations

import sys
import time

_START = time.monotonic()


def step(message: str) -> None:
    print(f"[stack +{time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)
