"""Leave the host as the real node found it: mounts, pod processes, cgroups, links, iptables/nftables.

Everything here acts only on what is provably the stack's: mounts below the
node's own directories, processes in the node's own cgroup root or named by
the stack's containerd state, the stack's bridge and the veths on it, chains
named KUBE-* (kube-proxy) and CNI-* (portmap), nftables tables that were not
there before the node first started.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from .log import step

OWN_CHAIN_PREFIXES = ("KUBE-", "CNI-")
CGROUP_FS = Path("/sys/fs/cgroup")


def _run(*argv: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def _unescape(path: str) -> str:
    # /proc/self/mountinfo writes space, tab, newline and backslash as octal escapes.
    return path.encode().decode("unicode_escape")


def mounts_under(*roots: Path) -> list[str]:
    prefixes = [str(r.resolve()) for r in roots]
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            found.append(point)
    # Deepest first, so a parent is never unmounted over its children.
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_all(*roots: Path) -> None:
    for _ in range(3):  # a bind mount can be stacked several times on one point
        points = mounts_under(*roots)
        if not points:
            return
        for point in points:
            if _run("umount", point).returncode != 0:
                _run("umount", "-l", point)
    left = mounts_under(*roots)
    if left:
        raise SystemExit(f"error: could not unmount {left}; see `findmnt -R {roots[0]}`")


def cgroup_dirs(cgroup_root: str) -> list[Path]:
    """Every cgroup below the node's cgroup root, in every v1 hierarchy, deepest first."""
    found: list[Path] = []
    for hierarchy in CGROUP_FS.iterdir() if CGROUP_FS.is_dir() else []:
        top = hierarchy / cgroup_root.strip("/")
        if top.is_dir() and not top.is_symlink():
            found += [Path(d) for d, _, _ in os.walk(top)]
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def kill_cgroup_tree(cgroup_root: str, timeout: float = 10.0) -> None:
    """SIGKILL every process in the node's pod cgroups (by pid), then remove those cgroups."""
    deadline = time.monotonic() + timeout
    while True:
        pids = set()
        for d in cgroup_dirs(cgroup_root):
            try:
                pids |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except OSError:
                continue
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not pids or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for d in cgroup_dirs(cgroup_root):
        try:
            d.rmdir()
        except OSError:
            pass
    left = cgroup_dirs(cgroup_root)
    if left:
        step(f"warning: cgroups left behind (still busy): {[str(p) for p in left[:5]]}")


def shim_pids(containerd_state: Path, socket: Path | None = None) -> list[int]:
    """The runc shims this containerd started (never found by process name): from its own task state, and every
    process started with ``-address <socket>`` of this containerd, since a shim whose task state is already gone
    (its pod deleted) can outlive it."""
    pids = []
    for pid_file in containerd_state.glob("io.containerd.runtime.v2.task/*/*/shim.pid"):
        try:
            pids.append(int(pid_file.read_text().strip()))
        except (OSError, ValueError):
            continue
    if socket is not None:
        wanted = ["-address", str(socket)]
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            args = [a.decode(errors="replace") for a in argv]
            if any(args[i : i + 2] == wanted for i in range(len(args) - 1)) and int(proc.name) not in pids:
                pids.append(int(proc.name))
    return pids


def kill_pids(pids: list[int], what: str) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            step(f"stopped {what} (pid {pid})")
        except ProcessLookupError:
            pass


def delete_bridge(bridge: str) -> None:
    """Remove the veths attached to the stack's bridge, then the bridge (its routes go with it)."""
    shown = _run("ip", "-j", "link", "show", "master", bridge)
    if shown.returncode == 0:
        for link in json.loads(shown.stdout or "[]"):
            _run("ip", "link", "del", link["ifname"])
    if _run("ip", "link", "show", bridge).returncode == 0:
        _run("ip", "link", "del", bridge, check=True)


def _own(chain: str) -> bool:
    return chain.startswith(OWN_CHAIN_PREFIXES)


def remove_own_chains(tool: str) -> None:
    """Delete the rules that jump to KUBE-*/CNI-* chains, then flush and delete those chains."""
    saved = _run(f"{tool}-save")
    if saved.returncode != 0:
        return
    table, jumps, chains = "", [], []
    for line in saved.stdout.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":") and _own(line[1:].split()[0]):
            chains.append((table, line[1:].split()[0]))
        elif line.startswith("-A "):
            words = shlex.split(line)
            target = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-j", "-g")), "")
            if not _own(words[1]) and _own(target):
                jumps.append((table, words[1:]))
    for table, rule in jumps:
        _run(tool, "-w", "-t", table, "-D", *rule)
    for verb in ("-F", "-X"):
        for table, chain in chains:
            _run(tool, "-w", "-t", table, verb, chain)


def nft_tables() -> list[str]:
    listed = _run("nft", "list", "tables") if _which("nft") else None
    return sorted(line.strip() for line in (listed.stdout.splitlines() if listed and listed.returncode == 0 else []) if line.strip())


def remove_new_nft_tables(before: list[str]) -> None:
    """Delete nftables tables that appeared while the node ran and hold nothing but empty base chains."""
    for entry in nft_tables():
        if entry in before:
            continue
        family_name = entry.split()[1:]  # "table ip nat" -> ["ip", "nat"]
        shown = _run("nft", "list", "table", *family_name).stdout
        rules = [ln for ln in shown.splitlines() if ln.strip() and not ln.strip().startswith(("table", "chain", "type", "}", "policy"))]
        if not rules:
            _run("nft", "delete", "table", *family_name)


def _which(cmd: str) -> bool:
    from shutil import which

    return which(cmd) is not None


def save_nft_baseline(path: Path) -> None:
    if not path.exists():
        path.write_text(json.dumps(nft_tables()) + "\n")


def load_nft_baseline(path: Path) -> list[str] | None:
    try:
        return list(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None
