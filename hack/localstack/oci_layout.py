"""Writing OCI images without a container engine: layers, config, manifest, in an OCI image layout.

Layers are deterministic: entries sorted by name, every mtime 0, owners numeric
with no user or group names, and gzip without a timestamp or file name. So the
same files give the same digests, and a rebuilt image is one the registry
already has (nothing to push).

The layout on disk is the standard one (``oci-layout``, ``index.json``,
``blobs/sha256/...``), so ``ctr images import`` or any OCI tool can read it too.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterable

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"

# A member of a layer and how to read its content (None for directories, links and the like).
Member = tuple[tarfile.TarInfo, Callable[[], IO[bytes]] | None]


@dataclass(frozen=True)
class Blob:
    """An OCI descriptor's fields; ``diff_id`` (digest of the uncompressed tar) is set for layers."""

    media_type: str
    digest: str
    size: int
    diff_id: str = ""

    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to ``sink``."""

    def __init__(self, sink: IO[bytes] | None) -> None:
        self.sink = sink
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.sha.update(data)
        self.size += len(data)
        if self.sink is not None:
            self.sink.write(data)
        return len(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


def blob_path(layout: Path, digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    return layout / "blobs" / algorithm / hexdigest


def entry(name: str, kind: bytes = tarfile.DIRTYPE, mode: int = 0o755, *, size: int = 0, linkname: str = "", uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
    """A tar header for ``name`` (relative, no leading slash), owned by root unless told otherwise."""
    info = tarfile.TarInfo(name.strip("/"))
    info.type, info.mode, info.size, info.linkname, info.uid, info.gid = kind, mode, size, linkname, uid, gid
    return info


def dir_member(name: str, mode: int = 0o755) -> Member:
    return entry(name, tarfile.DIRTYPE, mode), None


def file_member(name: str, source: Path, mode: int = 0o755) -> Member:
    return entry(name, tarfile.REGTYPE, mode, size=source.stat().st_size), lambda: source.open("rb")


def write_layer(layout: Path, members: Iterable[Member]) -> Blob:
    """Write ``members`` as one gzipped layer blob into ``layout``; returns its descriptor and diff_id."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    partial = blobs / ".layer.partial"
    with partial.open("wb") as out:
        compressed = _Hashing(out)
        # mtime=0 and no file name: gzip's header then carries nothing that changes between builds.
        with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=6) as gz:
            uncompressed = _Hashing(gz)
            with tarfile.open(fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for info, opener in sorted(members, key=lambda m: m[0].name):
                    info.mtime, info.uname, info.gname = 0, "", ""
                    if opener is None:
                        tar.addfile(info)
                        continue
                    with opener() as content:
                        tar.addfile(info, content)
    os.replace(partial, blobs / compressed.sha.hexdigest())
    return Blob(LAYER_MEDIA_TYPE, compressed.digest, compressed.size, uncompressed.digest)


def write_json_blob(layout: Path, media_type: str, document: dict) -> Blob:
    data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(layout, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Blob(media_type, digest, len(data))


def image_config(layers: list[Blob], config: dict, history: list[str]) -> dict:
    """The image config: amd64/linux, the runtime ``config`` (Env, Entrypoint, ...), one history line per layer."""
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created_by": line} for line in history],
    }


def image_manifest(config: Blob, layers: list[Blob]) -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }


def write_image(layout: Path, tag: str, layers: list[Blob], config: dict, history: list[str]) -> Blob:
    """Write config, manifest and index for ``layers`` (already in ``layout``); returns the manifest's descriptor."""
    config_blob = write_json_blob(layout, CONFIG_MEDIA_TYPE, image_config(layers, config, history))
    manifest = write_json_blob(layout, MANIFEST_MEDIA_TYPE, image_manifest(config_blob, layers))
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "manifests": [{**manifest.descriptor(), "annotations": {REF_NAME: tag}}]}
    (layout / "index.json").write_text(json.dumps(index, sort_keys=True, indent=1))
    return manifest


def read_manifest(layout: Path) -> tuple[str, str, bytes]:
    """The tag, manifest digest and manifest bytes of the (single) image in ``layout``."""
    descriptor = json.loads((layout / "index.json").read_text())["manifests"][0]
    return descriptor["annotations"][REF_NAME], descriptor["digest"], blob_path(layout, descriptor["digest"]).read_bytes()
