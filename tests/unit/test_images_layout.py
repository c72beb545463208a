"""Unit tests of the local stack's OCI image writer: deterministic layers, config and manifest shape, the Debian tar filter, the cache.

Pure: files only. Pushing to the real registry, pulling back and running the images is
tests/integration/test_stack_images.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

from localstack import images, oci_layout
from localstack.config import StackConfig


def _members(tmp_path: Path) -> list[oci_layout.Member]:
    binary = tmp_path / "src-bin"
    binary.write_bytes(b"\x7fELF not really")
    binary.touch()
    return [
        oci_layout.dir_member("usr"),
        oci_layout.file_member("usr/bin/tool", binary),
        oci_layout.dir_member("usr/bin"),
        oci_layout.dir_member("root", 0o700),
    ]


def _layer_tar(layout: Path, blob: oci_layout.Blob) -> tarfile.TarFile:
    return tarfile.open(fileobj=io.BytesIO(gzip.decompress(oci_layout.blob_path(layout, blob.digest).read_bytes())))


def test_a_layer_is_the_same_bytes_whatever_the_order_time_and_owner_names(tmp_path: Path) -> None:
    first = oci_layout.write_layer(tmp_path / "a", _members(tmp_path))
    (tmp_path / "src-bin").touch()  # a newer mtime must not show
    second = oci_layout.write_layer(tmp_path / "b", list(reversed(_members(tmp_path))))
    assert first == second
    assert oci_layout.blob_path(tmp_path / "a", first.digest).read_bytes() == oci_layout.blob_path(tmp_path / "b", second.digest).read_bytes()


def test_a_layer_records_sorted_root_owned_entries_with_fixed_times_and_its_diff_id(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    blob = oci_layout.write_layer(layout, _members(tmp_path))
    compressed = oci_layout.blob_path(layout, blob.digest).read_bytes()
    assert blob.digest == "sha256:" + hashlib.sha256(compressed).hexdigest() and blob.size == len(compressed)
    assert blob.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(compressed)).hexdigest()
    assert compressed[4:8] == b"\0\0\0\0", "gzip header must carry no timestamp"
    tar = _layer_tar(layout, blob)
    infos = tar.getmembers()
    assert [i.name for i in infos] == ["root", "usr", "usr/bin", "usr/bin/tool"]
    assert {(i.uid, i.gid, i.uname, i.gname, i.mtime) for i in infos} == {(0, 0, "", "", 0)}
    assert tar.getmember("root").mode == 0o700 and tar.getmember("usr/bin/tool").mode == 0o755
    assert tar.extractfile("usr/bin/tool").read() == b"\x7fELF not really"
    assert not list(layout.glob("blobs/sha256/.*")), "no partial file is left behind"


def test_the_image_has_an_oci_manifest_a_config_with_diff_ids_and_an_index_naming_its_tag(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    layer = oci_layout.write_layer(layout, _members(tmp_path))
    runtime = {"Entrypoint": ["/bin/tool"], "Cmd": ["serve"], "Env": ["PATH=/usr/bin"], "ExposedPorts": {"1/tcp": {}}}
    descriptor = oci_layout.write_image(layout, "1.2", [layer], runtime, ["the tool"])
    tag, digest, raw = oci_layout.read_manifest(layout)
    assert (tag, digest) == ("1.2", descriptor.digest) and digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    manifest = json.loads(raw)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json" and manifest["schemaVersion"] == 2
    assert manifest["layers"] == [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer.digest, "size": layer.size}]
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    config = json.loads(oci_layout.blob_path(layout, manifest["config"]["digest"]).read_bytes())
    assert config["architecture"] == "amd64" and config["os"] == "linux" and config["config"] == runtime
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer.diff_id]}
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}


def _debian_like_tar(path: Path) -> None:
    with tarfile.open(path, "w") as tar:

        def add(name: str, kind: bytes = tarfile.DIRTYPE, data: bytes = b"", **fields) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.mode = kind, len(data), fields.pop("mode", 0o755)
            for key, value in fields.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("./")
        add("./dev/")
        add("./dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3)
        add("./etc/")
        add("./etc/resolv.conf", tarfile.REGTYPE, b"nameserver 10.0.0.1\n")
        add("./etc/hostname", tarfile.REGTYPE, b"buildhost\n")
        add("./root/", mode=0o700)
        add("./usr/bin/zz", tarfile.REGTYPE, b"the program")
        add("./usr/bin/aa", tarfile.LNKTYPE, linkname="./usr/bin/zz")
        add("./var/cache/apt/archives/partial/", mode=0o700, uid=42)


def test_the_debian_tar_keeps_its_files_and_owners_but_not_device_nodes_host_files_or_hard_links(tmp_path: Path) -> None:
    source = tmp_path / "rootfs.tar"
    _debian_like_tar(source)
    layout = tmp_path / "layout"
    with tarfile.open(source) as tar:
        blob = oci_layout.write_layer(layout, images._rootfs_members(tar))
    layer = _layer_tar(layout, blob)
    names = layer.getnames()
    assert names == ["dev", "etc", "root", "usr/bin/aa", "usr/bin/zz", "var/cache/apt/archives/partial"]
    assert layer.getmember("usr/bin/aa").isreg() and layer.extractfile("usr/bin/aa").read() == b"the program"
    assert layer.getmember("root").mode == 0o700
    assert layer.getmember("var/cache/apt/archives/partial").uid == 42


def _config(tmp_path: Path) -> StackConfig:
    return StackConfig(tmp_path / "cache", tmp_path / "state", "t", 1, 2, 3, 4, 0)


def test_a_cached_image_is_reused_while_its_inputs_are_unchanged_and_rebuilt_when_they_change(tmp_path: Path) -> None:
    builds: list[Path] = []

    def build(layout: Path) -> None:
        builds.append(layout)
        oci_layout.write_image(layout, "1", [oci_layout.write_layer(layout, _members(tmp_path))], {}, ["x"])

    recipe = images.ImageRecipe("thing", "mlops/thing", "1", {"source": "abc", "parts": ("a", "b")}, build)
    cfg = _config(tmp_path)
    first = images.cached_layout(cfg, recipe)
    assert first == cfg.cache_dir / "images" / "thing-1" and (first / "index.json").exists()
    assert images.cached_layout(cfg, recipe) == first and len(builds) == 1
    images.cached_layout(cfg, replace(recipe, inputs={"source": "abd", "parts": ("a", "b")}))
    assert len(builds) == 2 and not list((cfg.cache_dir / "images").glob(".*partial"))


def test_an_interrupted_build_leaves_no_image_that_would_be_reused(tmp_path: Path) -> None:
    def broken(layout: Path) -> None:
        oci_layout.write_layer(layout, _members(tmp_path))
        raise RuntimeError("interrupted")

    cfg = _config(tmp_path)
    recipe = images.ImageRecipe("thing", "mlops/thing", "1", {}, broken)
    try:
        images.cached_layout(cfg, recipe)
    except RuntimeError:
        pass
    assert not (cfg.cache_dir / "images" / "thing-1").exists()
