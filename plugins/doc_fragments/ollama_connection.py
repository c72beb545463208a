# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The connection options of every mlops.ollama Ollama module (CONNECTION_ARGSPEC in
    # plugins/module_utils/_ollama_client.py). Keep the two in step.
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Ollama API, with scheme and port, for example V(http://127.0.0.1:11434); add a path only when a proxy
        serves Ollama under a prefix (V(https://gateway.example.com/ollama)).
      - The default is the in-cluster Service the collection deploys; it resolves only inside the cluster. From outside,
        use a port-forward, an Ingress or a NodePort URL.
      - If not set, the E(OLLAMA_URL) environment variable of the host the module runs on is used, then the default.
    type: str
    default: http://ollama.ml.svc.cluster.local:11434
  validate_certs:
    description:
      - Verify the TLS certificate of an V(https://) O(url).
      - Set to V(false) only for throwaway tests; prefer O(ca_path).
    type: bool
    default: true
  ca_path:
    description:
      - A PEM CA bundle to verify the endpoint's certificate with, instead of the system's trust store.
      - Ignored when O(validate_certs=false).
    type: path
  api_token:
    description:
      - "A bearer token sent as C(Authorization: Bearer <token>) on every request, for a proxy or Ingress in front of Ollama
        that requires one (Ollama itself has no authentication)."
      - If not set, the E(OLLAMA_API_TOKEN) environment variable is used.
      - Never logged.
    type: str
  connect_timeout:
    description:
      - Seconds to wait for a connection to be made (bounded by O(timeout), so an unreachable endpoint fails within O(timeout)).
    type: float
    default: 10
  timeout:
    description:
      - Seconds to wait for an answer to a request (the read timeout).
      - Also the time budget for retrying a request that could not connect or was answered with a 5xx status;
        no retry starts after O(timeout) seconds, so an unreachable O(url) fails within O(timeout).
      - Streaming requests (pulls) are watched by their own stall timeout instead, where a module has one.
      - Must be greater than 0.
    type: float
    default: 60
  retries:
    description:
      - How many times a request is retried after a connection error, a dropped connection or a 5xx answer,
        with exponential backoff (O(retry_backoff), doubled each time, at most 30 s).
      - Errors that a retry cannot fix (401, 403, 404, other 4xx, a model the registry does not have) are not retried.
      - 0 disables retries.
    type: int
    default: 3
  retry_backoff:
    description:
      - Seconds to wait before the first retry; each further retry waits twice as long (at most 30 s).
    type: float
    default: 1
"""
