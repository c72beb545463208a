"""Pushing an OCI image layout to a registry with the distribution API, skipping what it already has.

The stack's registry redirects blob reads to its blob server (see registry.py):
a HEAD of a blob it holds answers 307, not 200, so redirects are never followed
here and both count as "present". Uploads go to the registry itself (POST, then
one monolithic PUT with the digest).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx

from .oci_layout import MANIFEST_MEDIA_TYPE, blob_path, read_manifest


@dataclass
class PushResult:
    reference: str
    digest: str
    # True when the registry already had this exact manifest under the tag: nothing was sent.
    up_to_date: bool = False
    blobs_pushed: list[str] = field(default_factory=list)


def _fail(what: str, reply: httpx.Response) -> RuntimeError:
    return RuntimeError(f"{what}: the registry answered {reply.status_code} {reply.text[:300]!r}")


def manifest_digest(client: httpx.Client, repository: str, tag: str) -> str | None:
    """The digest the registry holds under ``repository:tag``, or None when it has none."""
    reply = client.head(f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_MEDIA_TYPE})
    if reply.status_code == 404:
        return None
    if reply.status_code != 200:
        raise _fail(f"checking {repository}:{tag}", reply)
    return reply.headers.get("Docker-Content-Digest")


def _has_blob(client: httpx.Client, repository: str, digest: str) -> bool:
    reply = client.head(f"/v2/{repository}/blobs/{digest}")
    if reply.status_code in (200, 307):
        return True
    if reply.status_code == 404:
        return False
    raise _fail(f"checking blob {digest} of {repository}", reply)


def _upload_blob(client: httpx.Client, repository: str, digest: str, path: Path) -> None:
    start = client.post(f"/v2/{repository}/blobs/uploads/")
    if start.status_code != 202 or "Location" not in start.headers:
        raise _fail(f"starting the upload of {digest} to {repository}", start)
    # Location may be relative or absolute; it carries the upload's state in its query.
    location = urljoin(str(client.base_url), start.headers["Location"])
    separator = "&" if "?" in location else "?"
    with path.open("rb") as content:
        done = client.put(
            f"{location}{separator}digest={digest}",
            content=content,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(path.stat().st_size)},
        )
    if done.status_code != 201:
        raise _fail(f"uploading {digest} to {repository}", done)


def push_layout(layout: Path, registry_host: str, repository: str) -> PushResult:
    """Push the image in ``layout`` as ``registry_host/repository:<its tag>`` over plain http."""
    tag, digest, manifest = read_manifest(layout)
    result = PushResult(f"{registry_host}/{repository}:{tag}", digest)
    with httpx.Client(base_url=f"http://{registry_host}", timeout=httpx.Timeout(30, write=300), follow_redirects=False) as client:
        if manifest_digest(client, repository, tag) == digest:
            result.up_to_date = True
            return result
        document = json.loads(manifest)
        for descriptor in [document["config"], *document["layers"]]:
            if not _has_blob(client, repository, descriptor["digest"]):
                _upload_blob(client, repository, descriptor["digest"], blob_path(layout, descriptor["digest"]))
                result.blobs_pushed.append(descriptor["digest"])
        reply = client.put(f"/v2/{repository}/manifests/{tag}", content=manifest, headers={"Content-Type": MANIFEST_MEDIA_TYPE})
        if reply.status_code != 201:
            raise _fail(f"pushing the manifest of {result.reference}", reply)
        if reply.headers.get("Docker-Content-Digest", digest) != digest:
            raise RuntimeError(f"the registry stored {result.reference} as {reply.headers['Docker-Content-Digest']}, not {digest}")
    return result
