"""A real OCI registry (Debian's docker-registry) on loopback, holding the tiny models.

Ollama's blob download expects the registry to redirect it to the blob's storage
(ollama issue 15512: a plain 200 fails). Real registries in front of object
storage do exactly that, so we configure the same with real components: the
registry's ``redirect`` storage middleware sends a 307 to a base URL, and
Debian's nginx serves the registry's filesystem root there (with Range support,
which Ollama's parallel part downloads use).

The blob server listens on another loopback address (127.0.0.2) on purpose:
Ollama follows a redirect to the *same* host name itself and only stops at
(and uses the Location of) a redirect to a different host, as with a CDN.

Pods cannot reach loopback, so the real node gets a second instance over the same
storage, on the node IP, with its blob server on a second address of the node's
bridge (``host``/``blobs_host``). That blob server keeps an access log: a test
reads it to prove which layers a pod downloaded.
"""


from __future__ import annotations

import grp
import os
import pwd
import shutil
from pathlib import Path

import httpx

from .procs import ManagedProcess, port_accepts, wait_for

BLOBS_HOST = "127.0.0.2"

REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
  formatter: text
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  redirect:
    disable: false
  cache:
    blobdescriptor: inmemory
middleware:
  storage:
    - name: redirect
      options:
        baseurl: http://{blobs_host}:{blobs_port}/
http:
  addr: {host}:{port}
  secret: local-stack-only
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
"""

NGINX_CONFIG = """\
daemon off;
# Workers run as whoever runs the stack, so they can read a state directory that
# only its owner may enter (a checkout under a 0700 temp dir, say).
user {user} {group};
worker_processes 1;
pid {run}/nginx-{name}.pid;
error_log {run}/nginx-{name}.error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log {access_log};
  client_body_temp_path {run}/nginx-{name}-tmp/body;
  proxy_temp_path {run}/nginx-{name}-tmp/proxy;
  fastcgi_temp_path {run}/nginx-{name}-tmp/fastcgi;
  uwsgi_temp_path {run}/nginx-{name}-tmp/uwsgi;
  scgi_temp_path {run}/nginx-{name}-tmp/scgi;
  default_type application/octet-stream;
  sendfile on;
  server {{
    listen {host}:{port};
    root {root};
    location / {{ try_files $uri =404; }}
  }}
}}
"""


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if not path:
        raise SystemExit(f"error: '{name}' was not found. The local stack needs Debian's {package} package: apt-get install -y {package}")
    return path


class Registry:
    """docker-registry + the nginx that serves its blobs; ``name`` keeps several instances apart."""

    def __init__(
        self,
        root: Path,
        run_dir: Path,
        port: int,
        blobs_port: int,
        *,
        name: str = "registry",
        serve_blobs: bool = True,
        host: str = "127.0.0.1",
        blobs_host: str = BLOBS_HOST,
        log_blob_requests: bool = False,
    ) -> None:
        self.root = root
        self.run_dir = run_dir
        self.port = port
        self.blobs_port = blobs_port
        self.name = name
        self.address = host
        self.blobs_host = blobs_host
        self.blobs_access_log = run_dir / f"nginx-{name}.access.log" if log_blob_requests else None
        config = run_dir / f"{name}.yml"
        self._config_text = REGISTRY_CONFIG.format(root=root, host=host, port=port, blobs_host=blobs_host, blobs_port=blobs_port)
        self._config_path = config
        self.registry = ManagedProcess(
            name=f"{name} (docker-registry)",
            argv=[require_binary("docker-registry", "docker-registry"), "serve", str(config)],
            pid_file=run_dir / f"{name}.pid",
            log_file=run_dir / f"{name}.log",
        )
        self.blobs: ManagedProcess | None = None
        if serve_blobs:
            nginx_conf = run_dir / f"nginx-{name}.conf"
            self._nginx_conf_path = nginx_conf
            self._nginx_conf_text = NGINX_CONFIG.format(
                run=run_dir,
                name=name,
                host=blobs_host,
                port=blobs_port,
                root=root,
                access_log=self.blobs_access_log or "off",
                user=pwd.getpwuid(os.getuid()).pw_name,
                group=grp.getgrgid(os.getgid()).gr_name,
            )
            self.blobs = ManagedProcess(
                name=f"{name} blob server (nginx)",
                argv=[require_binary("nginx", "nginx-light"), "-c", str(nginx_conf), "-e", str(run_dir / f"nginx-{name}.error.log")],
                pid_file=run_dir / f"{name}-blobs.pid",
                log_file=run_dir / f"{name}-blobs.log",
            )

    @property
    def host(self) -> str:
        return f"{self.address}:{self.port}"

    def healthy(self) -> bool:
        if not port_accepts(self.port, self.address):
            return False
        try:
            return httpx.get(f"http://{self.host}/v2/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._config_path.write_text(self._config_text)
        if self.blobs is not None:
            for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (self.run_dir / f"nginx-{self.name}-tmp" / sub).mkdir(parents=True, exist_ok=True)
            self._nginx_conf_path.write_text(self._nginx_conf_text)
            self.blobs.start()
            wait_for(lambda: port_accepts(self.blobs_port, self.blobs_host), 20, f"nginx to listen on {self.blobs_host}:{self.blobs_port}")
        self.registry.start()
        try:
            wait_for(self.healthy, 30, f"the registry to answer on http://{self.host}/v2/")
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}; last lines of {self.registry.log_file}:\n{self.registry.log_tail()}") from None

    def stop(self) -> None:
        self.registry.stop()
        if self.blobs is not None:
            self.blobs.stop()
