# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The connection options of every mlops.ollama Ollama module (CONNECTION_ARGSPEC in
    # plugins/module_utils/_ollama_connection.py). Keep the two in step.
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Ollama API, with scheme and port, for example V(http://127.0.0.1:11434); add a path only when a proxy
        serves Ollama under a prefix (V(https://gateway.example.com/ollama)).
      - The default is the in-cluster Service the collection deploys; it resolves only inside the cluster. From outside,
        use a port-forward, an Ingress or a NodePort URL.
      - If not set, the E(OLLAMA_URL) environment variable of the host the module runs on is used, then the default.
      - A port, if given, must be a number from 1 to 65535; a query or fragment is refused.
      - "A user name and password in the URL (V(https://user:password@gateway.example.com)) are sent as HTTP basic
        authentication and are masked as C(***@) wherever the URL is printed. Do not combine them with O(api_token)."
      - Redirects are followed only to the same host, never from V(https://) to V(http://), and for requests that
        send a body (pulls, deletes) only with status 307 or 308; any other redirect fails with a message naming the
        address to put in O(url) instead. A followed redirect gives a warning, since it costs a round trip per request.
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
      - A PEM CA bundle file to verify the endpoint's certificate with, instead of the system's trust store.
      - Read before any request; a path that does not exist, a directory or a file that is not PEM fails the task.
      - Ignored when O(validate_certs=false).
    type: path
  api_token:
    description:
      - "A bearer token sent as C(Authorization: Bearer <token>) on every request, for a proxy or Ingress in front of Ollama
        that requires one (Ollama itself has no authentication)."
      - If not set, the E(OLLAMA_API_TOKEN) environment variable is used.
      - Never logged. Sending it over V(http://) to a host that is not a loopback address gives a warning; use V(https://).
      - Must be printable ASCII without surrounding spaces or line breaks (the value is never shown in the error).
    type: str
  connect_timeout:
    description:
      - Seconds to wait for a connection to be made (bounded by O(timeout), so an unreachable endpoint fails within O(timeout)).
      - Must be a finite number greater than 0.
    type: float
    default: 10
  timeout:
    description:
      - Seconds to wait for an answer to a request (the read timeout).
      - Also the time budget for retrying a request that could not connect or was answered with a 5xx status;
        no retry starts after O(timeout) seconds, so an unreachable O(url) fails within O(timeout).
      - Streaming requests (pulls) are watched by their own stall timeout instead, where a module has one.
      - Must be a finite number greater than 0.
    type: float
    default: 60
  retries:
    description:
      - How many times a request is retried after a connection error, a dropped connection, a 429 or a 5xx answer,
        with exponential backoff (O(retry_backoff), doubled each time, at most 30 s).
      - Errors that a retry cannot fix (401, 403, 404, other 4xx, a redirect that is not followed, a model the registry
        does not have or refuses) are not retried.
      - 0 disables retries; negative values are refused.
    type: int
    default: 3
  retry_backoff:
    description:
      - Seconds to wait before the first retry; each further retry waits twice as long (at most 30 s).
      - A finite number, 0 or more.
    type: float
    default: 1
"""
