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
      - If neither O(url) nor O(kubernetes) is set, the E(OLLAMA_URL) environment variable of the host the module runs on
        is used, then V(http://ollama.ml.svc.cluster.local:11434), the in-cluster Service the collection deploys, which
        resolves only inside the cluster. From outside the cluster use O(kubernetes) instead, or an Ingress URL.
      - Mutually exclusive with O(kubernetes).
      - A port, if given, must be a number from 1 to 65535; a query or fragment is refused.
      - "A user name and password in the URL (V(https://user:password@gateway.example.com)) are sent as HTTP basic
        authentication and are masked as C(***@) wherever the URL is printed. Do not combine them with O(api_token)."
      - Redirects are followed only to the same host, never from V(https://) to V(http://), and for requests that
        send a body (pulls, deletes) only with status 307 or 308; any other redirect fails with a message naming the
        address to put in O(url) instead. A followed redirect gives a warning, since it costs a round trip per request.
    type: str
  kubernetes:
    description:
      - Reach Ollama through the Kubernetes API server's proxy instead of a URL, with the credentials the
        C(kubernetes.core) modules use. It needs nothing but access to the API server, no route to the pod network,
        no Ingress and no port-forward.
      - Requests go to C(services/<service>:<port>/proxy) or C(pods/<pod>:<port>/proxy) in O(kubernetes.namespace),
        so the identity needs the RBAC verbs C(get), C(create) and C(delete) on C(services/proxy) or C(pods/proxy)
        there (the automation Role of the C(mlops.ollama.k3s_ml_namespace) role has them).
      - Pull progress and stall detection work as over a URL.
      - A failure names its hop, the API server refusing the credentials (401) or the RBAC verb (403, naming the verb),
        the proxy finding no ready pod or no running Ollama (502, 503), or Ollama's own answer.
      - Mutually exclusive with O(url), O(api_token), O(ca_path) and O(validate_certs=false); the API server's own TLS
        options are suboptions here.
    type: dict
    suboptions:
      service:
        description:
          - The Service in front of Ollama, for example V(ollama). Each request goes to one ready pod behind it.
          - Exactly one of O(kubernetes.service), O(kubernetes.pod) and O(kubernetes.pod_selector).
        type: str
      pod:
        description:
          - One pod's name, to talk to that replica alone (it need not be Ready, only running).
          - Exactly one of O(kubernetes.service), O(kubernetes.pod) and O(kubernetes.pod_selector).
        type: str
      pod_selector:
        description:
          - A label selector, such as V(app.kubernetes.io/name=ollama), to act on every running pod it matches, each through
            its own proxy, Ready or not. Pods that are not running (Pending, being deleted) are left out with a warning.
          - Only M(mlops.ollama.ollama_models) (syncs each pod) and M(mlops.ollama.ollama_health) (checks each pod) take it;
            their result then has C(pods), one result per pod, and fails naming each pod that failed. The pods are listed
            with one Kubernetes request (RBAC C(list) on C(pods)).
        type: str
      namespace:
        description: The namespace of the Service or pod.
        type: str
        default: ml
      port:
        description: The Service's port, or the pod's container port, that Ollama listens on.
        type: int
        default: 11434
      kubeconfig:
        description:
          - The kubeconfig file to read. If not set, E(K8S_AUTH_KUBECONFIG), then, as C(kubernetes.core) does, the
            in-cluster service account, then E(KUBECONFIG) or C(~/.kube/config).
        type: path
      context:
        description: The kubeconfig context to use; if not set, E(K8S_AUTH_CONTEXT), then the current context.
        type: str
      host:
        description:
          - The API server's URL, with O(kubernetes.api_key) or a client certificate instead of a kubeconfig (an AWX
            Kubernetes credential). If not set, E(K8S_AUTH_HOST).
        type: str
      api_key:
        description: A bearer token for the API server; if not set, E(K8S_AUTH_API_KEY). Never logged.
        type: str
      validate_certs:
        description: Verify the API server's certificate; if not set, E(K8S_AUTH_VERIFY_SSL), then the kubeconfig's setting.
        type: bool
        aliases: [verify_ssl]
      ca_cert:
        description: The CA bundle that signed the API server's certificate; if not set, E(K8S_AUTH_SSL_CA_CERT).
        type: path
        aliases: [ssl_ca_cert]
      client_cert:
        description: A client certificate for the API server; if not set, E(K8S_AUTH_CERT_FILE).
        type: path
        aliases: [cert_file]
      client_key:
        description: The key of O(kubernetes.client_cert); if not set, E(K8S_AUTH_KEY_FILE).
        type: path
        aliases: [key_file]
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
      - If not set, the E(OLLAMA_API_TOKEN) environment variable is used, unless O(kubernetes) is set.
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
