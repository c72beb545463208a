# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``ollama-health`` command: options, endpoint choice, exit codes, output.

PRIVATE: this file is not part of the collection's public API and may change at
any time. The public surface built on it is the ``scripts/ollama-health`` command,
which ships this file with the module_utils files it imports (its ``SOURCES``)
and calls ``main(argv)``.

Standard library, httpx and those files only: no Ansible.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import HAS_HTTPX, HTTPX_IMPORT_ERROR, OllamaClient, OllamaParameterError
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health import (
    DEFAULT_LOAD_DURATION_S,
    DEFAULT_LOAD_REQUESTS,
    DEFAULT_MAX_LATENCY_S,
    DEFAULT_NUM_PREDICT,
    DEFAULT_PROMPT,
    PROBES,
    HealthParams,
)
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health_checks import HealthChecker
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health_report import render_summary
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_kubernetes import DEFAULT_NAMESPACE, DEFAULT_PORT, options_from_environment

# --internal checks the in-cluster Service; --external has no default: it is whatever URL users reach the service by.
DEFAULT_INTERNAL_URL = "http://ollama.ml.svc.cluster.local:11434"
EXTERNAL_URL_ENV = "OLLAMA_EXTERNAL_URL"
INTERNAL_URL_ENV = "OLLAMA_INTERNAL_URL"
DEFAULT_CLI_MODEL = "llama3.2:1b"

# Exit codes beyond the health statuses 0-4 (argparse would use 2, which means "model missing").
EXIT_USAGE = 64  # EX_USAGE
EXIT_SOFTWARE = 70  # EX_SOFTWARE: a bug or an unexpected environment, not a health verdict


class UsageError(Exception):
    """Bad options or environment: the command exits ``EXIT_USAGE``."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2, which here means "model missing"
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ollama-health",
        description=(
            "Check an Ollama endpoint: API reachable, models present, inference answers, latency under a threshold, "
            "and optionally a concurrent load probe. Exit codes: 0 healthy, 1 API unreachable, 2 model missing, "
            f"3 inference failed, 4 performance degraded; {EXIT_USAGE} bad usage, {EXIT_SOFTWARE} internal error."
        ),
        epilog=(
            f"Environment: {EXTERNAL_URL_ENV} is the endpoint of --external (required for it), {INTERNAL_URL_ENV} overrides "
            "the endpoint of --internal, OLLAMA_HEALTH_MODELS (comma-separated) the default models, OLLAMA_API_TOKEN sends a "
            "bearer token (never pass secrets as arguments). With --service or --pod the API server's credentials come from "
            "--kubeconfig/--context or K8S_AUTH_KUBECONFIG, K8S_AUTH_CONTEXT, K8S_AUTH_HOST, K8S_AUTH_API_KEY, K8S_AUTH_SSL_CA_CERT, "
            "then the in-cluster service account or ~/.kube/config."
        ),
    )
    _add_endpoint_options(parser)
    _add_check_options(parser)
    _add_connection_options(parser)
    parser.add_argument("--json", action="store_true", help="print the full result as JSON instead of the summary")
    models_env = [m.strip() for m in os.environ.get("OLLAMA_HEALTH_MODELS", "").split(",") if m.strip()]
    parser.set_defaults(mode="external", _default_models=models_env or [DEFAULT_CLI_MODEL])
    return parser


def _add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--external",
        dest="mode",
        action="store_const",
        const="external",
        help=f"check the endpoint in ${EXTERNAL_URL_ENV} (the default when no --url is given)",
    )
    where.add_argument(
        "--internal", dest="mode", action="store_const", const="internal", help=f"check the in-cluster Service (${INTERNAL_URL_ENV} or {DEFAULT_INTERNAL_URL})"
    )
    where.add_argument("--url", help="check this endpoint")
    where.add_argument("--service", metavar="NAME", help="check Ollama behind this Service, through the Kubernetes API server's proxy")
    where.add_argument("--pod", metavar="NAME", help="check Ollama in this pod, through the Kubernetes API server's proxy")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="namespace of --service or --pod (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port of --service or --pod (default: %(default)s)")
    parser.add_argument("--kubeconfig", help="kubeconfig for --service or --pod (default: $K8S_AUTH_KUBECONFIG, in-cluster, ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context for --service or --pod")


def _add_check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        "-m",
        dest="models",
        action="append",
        metavar="NAME",
        help=f"expected model; repeat for several (default: $OLLAMA_HEALTH_MODELS or {DEFAULT_CLI_MODEL})",
    )
    parser.add_argument(
        "--inference-model", dest="inference_models", action="append", metavar="NAME", help="model(s) to run inference on (default: the first --model)"
    )
    parser.add_argument("--probe", dest="probes", action="append", choices=PROBES, help="inference probe(s) to run (default: all)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="fixed prompt (default: %(default)r)")
    parser.add_argument("--num-predict", type=int, default=DEFAULT_NUM_PREDICT, help="tokens to generate (default: %(default)s)")
    parser.add_argument(
        "--max-latency",
        "--max-latency-s",
        dest="max_latency_s",
        type=float,
        default=DEFAULT_MAX_LATENCY_S,
        metavar="SECONDS",
        help="slower than this is degraded (default: %(default)s)",
    )
    parser.add_argument("--min-tokens-per-s", type=float, metavar="RATE", help="slower generation than this is degraded")
    parser.add_argument("--concurrency", type=int, default=0, help="load probe: parallel requests (default: 0, no load probe)")
    parser.add_argument("--requests", type=int, default=DEFAULT_LOAD_REQUESTS, help="load probe: total requests (default: %(default)s)")
    parser.add_argument(
        "--load-duration",
        dest="load_duration_s",
        type=float,
        default=DEFAULT_LOAD_DURATION_S,
        metavar="SECONDS",
        help="load probe: start no request after this (default: %(default)s)",
    )


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="read timeout per request (default: %(default)s)")
    parser.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS", help="connect timeout (default: %(default)s)")
    parser.add_argument("--retries", type=int, default=1, help="retries of failed requests (default: %(default)s)")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--ca-path", help="CA bundle to verify the endpoint's certificate")
    tls.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")


def cli_kubernetes(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``kubernetes`` option of --service / --pod, credentials from the options or K8S_AUTH_*; None for a URL."""
    if not (args.service or args.pod):
        return None
    given = {"service": args.service, "pod": args.pod, "namespace": args.namespace, "port": args.port}
    return options_from_environment({**given, "kubeconfig": args.kubeconfig, "context": args.context})


def cli_url(args: argparse.Namespace) -> str | None:
    """The endpoint to check (None through the Kubernetes API); ``UsageError`` when --external (the default) has no URL to go to."""
    if args.service or args.pod:
        return None
    if args.url:
        return str(args.url).rstrip("/")
    if args.mode == "internal":
        return (os.environ.get(INTERNAL_URL_ENV) or DEFAULT_INTERNAL_URL).rstrip("/")
    external = os.environ.get(EXTERNAL_URL_ENV)
    if not external:
        raise UsageError(
            f"no endpoint to check: give --url URL, use --internal for the in-cluster Service, or set {EXTERNAL_URL_ENV} "
            "to the service's external URL for --external"
        )
    return external.rstrip("/")


def params_from_args(args: argparse.Namespace) -> HealthParams:
    params = HealthParams(
        models=args.models or args._default_models,
        inference_models=args.inference_models,
        probes=args.probes or list(PROBES),
        prompt=args.prompt,
        num_predict=args.num_predict,
        max_latency_s=args.max_latency_s,
        min_tokens_per_s=args.min_tokens_per_s,
        concurrency=args.concurrency,
        requests=args.requests,
        load_duration_s=args.load_duration_s,
        stall_timeout_s=args.timeout,
    )
    try:
        params.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return params


def _err(message: str) -> None:
    sys.stderr.write(message + "\n")


def main(argv: Sequence[str] | None = None, *, transport: Any = None) -> int:
    """``ollama-health``: run the checks, print the summary, return the status's exit code."""
    args = build_parser().parse_args(argv)
    try:
        url, kubernetes = cli_url(args), cli_kubernetes(args)
        params = params_from_args(args)
    except UsageError as exc:
        _err(f"ollama-health: error: {exc}")
        return EXIT_USAGE
    if not HAS_HTTPX:
        reason = (HTTPX_IMPORT_ERROR or "").strip().splitlines()[-1:] or ["not importable"]
        _err(f"ollama-health: error: the httpx Python library is required ({reason[0]}); install it with: {sys.executable} -m pip install httpx")
        return EXIT_SOFTWARE

    def make_client(retries: int) -> OllamaClient:
        return OllamaClient(
            url,
            validate_certs=not args.insecure,
            ca_path=args.ca_path,
            api_token=os.environ.get("OLLAMA_API_TOKEN") or None,
            connect_timeout=args.connect_timeout,
            read_timeout=args.timeout,
            retries=retries,
            kubernetes=kubernetes,
            transport=transport,
        )

    try:
        # The load probe counts failures, so its requests are never retried.
        client = make_client(args.retries)
        report = HealthChecker(client, params, url=client.endpoint, load_client=make_client(0) if params.concurrency else None).run()
    except OllamaParameterError as exc:
        _err(f"ollama-health: error: {exc}")
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a CronJob must tell a crash from a verdict
        _err(f"ollama-health: internal error: {type(exc).__name__}: {exc}")
        return EXIT_SOFTWARE
    sys.stdout.write(json.dumps(report.as_dict(), indent=2, default=str) + "\n" if args.json else render_summary(report))
    return report.status_code
