"""The stack's own images, against its real registry: pushed once, pulled back over the registry protocol, and run.

The pull goes the way containerd's does: manifest from the registry, blobs through its
redirect to the blob server. The layers are unpacked into a directory and run with chroot,
which proves the binary finds its libraries and the shell is there.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from localstack import images, oci_layout, oci_push
from localstack.config import StackConfig

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# Resolved here: the commands run with the image's environment, not ours.
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"


@pytest.fixture(scope="module")
def refs(stack) -> dict[str, str]:
    return images.ensure_images(StackConfig.from_env(), stack.registry_host)


def _pull(registry_host: str, reference: str) -> tuple[dict, dict, list[bytes]]:
    """Manifest, config and uncompressed layers of ``reference``, each checked against its digest."""
    repository, _colon, tag = reference.removeprefix(registry_host + "/").partition(":")
    with httpx.Client(base_url=f"http://{registry_host}", timeout=60, follow_redirects=True) as client:
        reply = client.get(f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST})
        reply.raise_for_status()
        assert reply.headers["Content-Type"] == MANIFEST
        assert reply.headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(reply.content).hexdigest()
        manifest = reply.json()

        def blob(descriptor: dict) -> bytes:
            data = client.get(f"/v2/{repository}/blobs/{descriptor['digest']}").raise_for_status().content
            assert "sha256:" + hashlib.sha256(data).hexdigest() == descriptor["digest"] and len(data) == descriptor["size"]
            return data

        config = json.loads(blob(manifest["config"]))
        layers = [gzip.decompress(blob(layer)) for layer in manifest["layers"]]
    assert ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers] == config["rootfs"]["diff_ids"]
    return manifest, config, layers


def _unpack(layers: list[bytes], root: Path) -> None:
    for layer in layers:
        with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
            tar.extractall(root, numeric_owner=True, filter="fully_trusted")


@pytest.fixture
def rootfs(tmp_path: Path):
    root = tmp_path / "rootfs"
    root.mkdir()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_ensure_images_returns_the_references_and_a_second_call_pushes_nothing(stack, refs, capfd) -> None:
    host = stack.registry_host
    assert refs == {"pause": f"{host}/mlops/pause:{images.PAUSE_VERSION}", "ollama": f"{host}/mlops/ollama:{images.OLLAMA_TAG}"}
    capfd.readouterr()
    assert images.ensure_images(StackConfig.from_env(), host) == refs
    log = capfd.readouterr().err
    for reference in refs.values():
        assert f"image {reference} is already in the registry" in log
    assert "pushed" not in log and "building" not in log


def test_a_push_to_a_repository_without_the_image_uploads_its_blobs_then_skips(stack, refs) -> None:
    cfg = StackConfig.from_env()
    pause = next(r for r in images.recipes(cfg) if r.name == "pause")
    layout = images.cached_layout(cfg, pause)
    repository = f"mlops-test/pause-{uuid.uuid4().hex[:8]}"
    first = oci_push.push_layout(layout, stack.registry_host, repository)
    second = oci_push.push_layout(layout, stack.registry_host, repository)
    try:
        manifest = json.loads(oci_layout.read_manifest(layout)[2])
        assert not first.up_to_date and sorted(first.blobs_pushed) == sorted(d["digest"] for d in [manifest["config"], *manifest["layers"]])
        assert second.up_to_date and second.blobs_pushed == [] and second.digest == first.digest
    finally:
        httpx.delete(f"http://{stack.registry_host}/v2/{repository}/manifests/{first.digest}", timeout=10)


def test_the_ollama_image_is_laid_out_like_the_official_one_and_runs(stack, refs, rootfs: Path) -> None:
    _manifest, config, layers = _pull(stack.registry_host, refs["ollama"])
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    runtime = config["config"]
    assert runtime["Entrypoint"] == ["/bin/ollama"] and runtime["Cmd"] == ["serve"]
    assert "OLLAMA_HOST=0.0.0.0:11434" in runtime["Env"]
    assert any(e.startswith("PATH=") and "/bin" in e.removeprefix("PATH=").split(":") for e in runtime["Env"])
    assert runtime["ExposedPorts"] == {"11434/tcp": {}}
    assert not runtime.get("User"), "the official image runs as root"

    _unpack(layers, rootfs)
    home = (rootfs / "root").stat()
    assert (home.st_uid, home.st_gid, home.st_mode & 0o777) == (0, 0, 0o700)
    assert os.readlink(rootfs / "bin") == "usr/bin" and (rootfs / "usr/bin/ollama").stat().st_mode & 0o111
    assert (rootfs / "etc/ssl/certs/ca-certificates.crt").stat().st_size > 100_000
    assert not (rootfs / "etc/resolv.conf").exists() and not (rootfs / "etc/hostname").exists(), "the build host's files must not be in the image"
    # A port nothing listens on: the client prints its own version and no server is reached.
    env = {"PATH": "/usr/bin:/bin", "OLLAMA_HOST": "127.0.0.1:9"}
    version = subprocess.run([CHROOT, str(rootfs), "/bin/ollama", "--version"], capture_output=True, text=True, timeout=60, env=env, check=False)
    assert images.OLLAMA_TAG in version.stdout + version.stderr, version
    shell = subprocess.run([CHROOT, str(rootfs), "/bin/sh", "-c", "echo ok"], capture_output=True, text=True, timeout=30, env=env, check=False)
    assert (shell.returncode, shell.stdout) == (0, "ok\n"), shell


def test_the_pause_image_holds_only_its_static_program_which_stops_on_sigterm(stack, refs, rootfs: Path) -> None:
    _manifest, config, layers = _pull(stack.registry_host, refs["pause"])
    assert config["config"]["Entrypoint"] == ["/pause"] and config["config"]["User"] == "65535:65535"
    assert len(layers) == 1 and tarfile.open(fileobj=io.BytesIO(layers[0])).getnames() == ["pause"]
    _unpack(layers, rootfs)
    # No libraries in the image: the program runs only if it is static.
    version = subprocess.run([CHROOT, str(rootfs), "/pause", "--version"], capture_output=True, text=True, timeout=30, env={}, check=False)
    assert version.stdout == f"pause {images.PAUSE_VERSION}\n", version
    proc = subprocess.Popen([CHROOT, "--userspec=65535:65535", str(rootfs), "/pause"], env={})
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _children(pid: int) -> list[tuple[int, str, str]]:
    """(pid, command, state) of the processes whose parent is ``pid``."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append((int(fields["Pid"]), fields["Name"].strip(), fields["State"].strip()[0]))
    return found


def _wait_until(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_pause_as_pid_1_reaps_the_orphans_it_inherits(stack, refs, rootfs: Path) -> None:
    _manifest, _config, layers = _pull(stack.registry_host, refs["pause"])
    _unpack(layers, rootfs)
    # pause as PID 1 of a PID namespace of its own, as in a pod that shares one.
    holder = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", CHROOT, str(rootfs), "/pause"], env={})
    try:
        assert _wait_until(lambda: any(name == "pause" for _pid, name, _state in _children(holder.pid)), 10)
        pause = next(pid for pid, name, _state in _children(holder.pid) if name == "pause")
        # The shell exits at once, so its sleep is orphaned into the namespace: pause becomes its parent.
        subprocess.run(["nsenter", "-t", str(pause), "-p", "--", "/bin/sh", "-c", "sleep 1 & exit 0"], check=True, timeout=10)
        assert _wait_until(lambda: any(name == "sleep" for _pid, name, _state in _children(pause)), 5), "the orphan was not handed to pause"
        assert _wait_until(lambda: not _children(pause), 10), f"pause left its exited children as zombies: {_children(pause)}"
        os.kill(pause, signal.SIGTERM)
        assert holder.wait(timeout=10) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
