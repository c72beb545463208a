"""Run a command and copy its output, line by line, into a CRI-format log file.

The stack's one real Ollama stands behind every fake (kwok) Ollama pod. kwok's
ClusterLogs serves a CRI log file as the pods' container log, so writing the
real server's output there makes ``kubectl logs`` show real Ollama lines, including
the request lines (``POST "/api/generate"``) of inferences made during a test.

Usage: python -m localstack.crilog --cri FILE -- COMMAND [ARGS...]
SIGTERM/SIGINT are passed to the command; the exit status is the command's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import subprocess
import sys
import threading
from typing import IO


def cri_line(stream: str, text: str, now: dt.datetime | None = None) -> str:
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp} {stream} F {text}\n"


def _pump(source: IO[bytes], stream: str, cri: IO[str], raw: IO[str], lock: threading.Lock) -> None:
    for chunk in iter(source.readline, b""):
        text = chunk.decode("utf-8", errors="replace").rstrip("\n")
        with lock:
            cri.write(cri_line(stream, text))
            cri.flush()
            raw.write(text + "\n")
            raw.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crilog")
    parser.add_argument("--cri", required=True, help="CRI log file to append to")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to run is required after --")
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    lock = threading.Lock()
    with open(args.cri, "a", encoding="utf-8") as cri:
        pumps = [
            threading.Thread(target=_pump, args=(child.stdout, "stdout", cri, sys.stdout, lock), daemon=True),
            threading.Thread(target=_pump, args=(child.stderr, "stderr", cri, sys.stdout, lock), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        code = child.wait()
        for pump in pumps:
            pump.join(timeout=5)
    return code


if __name__ == "__main__":
    sys.exit(main())
