# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tag's manifest digest, asked of its registry directly: how check mode predicts ``state: latest``.

PRIVATE: this file is not part of the collection's public API and may change at
any time. The public surfaces built on it are the ``mlops.ollama.ollama_model`` and
``mlops.ollama.ollama_models`` modules, in check mode.

The request is a read-only ``HEAD`` on the URL Ollama itself pulls the manifest from
(the first request of every pull), with the anonymous bearer token OCI registries hand
out on a ``401`` challenge. It never goes through the Ollama server, so a host that
cannot reach the registry gets ``RegistryLookupError`` and the caller assumes a change.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import HAS_HTTPX
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_names import ModelName, digest_hex

MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"


class RegistryLookupError(Exception):
    """The registry could not be asked, or did not answer with a digest; ``str()`` says which request and why."""


def registry_manifest_digest(name: ModelName, *, insecure: bool, timeout: float, transport: Any = None) -> str:
    """The registry's manifest digest for ``name``'s tag: a read-only ``HEAD`` on the URL Ollama pulls from.

    Follows the anonymous bearer-token challenge of OCI registries. Raises ``RegistryLookupError``.
    """
    if not HAS_HTTPX:  # pragma: no cover
        raise RegistryLookupError("httpx is not installed")
    import httpx

    scheme = "http" if insecure else "https"
    url = f"{scheme}://{name.registry_host}/v2/{name.repository}/manifests/{name.tag}"
    headers = {"Accept": MANIFEST_ACCEPT}
    try:
        with httpx.Client(timeout=timeout, transport=transport, follow_redirects=True) as http:
            response = http.head(url, headers=headers)
            if response.status_code == 401:
                token = _anonymous_token(http, response.headers.get("www-authenticate", ""))
                if token:
                    response = http.head(url, headers={**headers, "Authorization": f"Bearer {token}"})
            if response.status_code != 200:
                raise RegistryLookupError(f"HEAD {url} answered HTTP {response.status_code}")
            digest = digest_hex(response.headers.get("docker-content-digest"))
            if digest is None:
                body = http.get(url, headers=headers)
                if body.status_code != 200:
                    raise RegistryLookupError(f"GET {url} answered HTTP {body.status_code}")
                digest = hashlib.sha256(body.content).hexdigest()
            return digest
    except httpx.HTTPError as exc:
        raise RegistryLookupError(f"{url}: {type(exc).__name__}: {exc}") from None


def _anonymous_token(http: Any, challenge: str) -> str | None:
    if not challenge.lower().startswith("bearer "):
        return None
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = fields.pop("realm", None)
    if not realm:
        return None
    response = http.get(realm, params=fields)
    if response.status_code != 200:
        return None
    data = response.json()
    token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
    return str(token) if token else None
