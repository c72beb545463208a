"""A real Ollama server on loopback, for the stack and for tests that need a fresh one."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import httpx

from .procs import ManagedProcess, port_accepts, wait_for

HACK_DIR = Path(__file__).resolve().parents[1]


class OllamaServer:
    """One ``ollama serve`` with its own models directory, port, pid file and log.

    With ``cri_log`` set, the server runs under ``localstack.crilog`` so its output
    also lands in a CRI log file that kwok serves as the Ollama pods' logs.
    """

    def __init__(self, binary: Path, port: int, models_dir: Path, run_dir: Path, *, name: str = "ollama", cri_log: Path | None = None) -> None:
        self.binary = binary
        self.port = port
        self.models_dir = models_dir
        self.name = name
        self.cri_log = cri_log
        argv = [str(binary), "serve"]
        if cri_log is not None:
            argv = [sys.executable, "-m", "localstack.crilog", "--cri", str(cri_log), "--", *argv]
        self.process = ManagedProcess(
            name=name,
            argv=argv,
            pid_file=run_dir / f"{name}.pid",
            log_file=run_dir / f"{name}.log",
            env={
                "OLLAMA_HOST": f"127.0.0.1:{port}",
                "OLLAMA_MODELS": str(models_dir),
                # Tests reload tiny models often; keep them loaded between requests.
                "OLLAMA_KEEP_ALIVE": "30m",
                "PYTHONPATH": str(HACK_DIR),
            },
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        if not port_accepts(self.port):
            return False
        try:
            return httpx.get(self.url + "/", timeout=2).text.strip() == "Ollama is running"
        except httpx.HTTPError:
            return False

    def start(self, timeout: float = 60.0) -> None:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        if self.cri_log is not None:
            self.cri_log.parent.mkdir(parents=True, exist_ok=True)
        self.process.start()
        try:
            # Healthy only while our own process lives: a server someone else runs on the port does not count.
            wait_for(lambda: self.process.running() and self.healthy(), timeout, f"{self.name} to answer on {self.url}")
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}; last lines of {self.process.log_file}:\n{self.process.log_tail()}") from None

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no graceful shutdown."""
        pid = self.process.pid()
        if pid:
            self.process.signal(signal.SIGKILL)
            wait_for(lambda: not self.process.running(), 10, f"{self.name} to die")
