"""A controller that can reach nothing but the Kubernetes API server: a network namespace of its own.

The namespace is held by one ``sleep`` process (``unshare --net``), so it leaves no mount behind and goes with that
process. A veth pair links it to the host, and its only route is to the address where the host's API server listens
(the real node's IP). Its own nftables table, gone with it, lets through only TCP to the API server's port, and
rewrites the kubeconfig's 127.0.0.1 to that address so the server's certificate (issued for 127.0.0.1) still
matches. Pod IPs, ClusterIPs, the registry and the host's other ports are all out of reach.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlparse

RULES = """
table ip controller {{
  chain to_api_server {{ type nat hook output priority -100; ip daddr {local} tcp dport {port} dnat to {server}:{port}; }}
  chain from_here {{ type nat hook postrouting priority 100; oifname "{link}" snat to {address}; }}
  chain only_api_server {{
    type filter hook output priority 0; policy accept;
    oifname "{link}" ip daddr {server} tcp dport {port} accept;
    oifname "{link}" reject;
  }}
}}
"""


def _run(*cmd: str, stdin: str | None = None) -> None:
    subprocess.run(cmd, input=stdin, text=True, check=True, capture_output=True, timeout=30)


def _own_namespace(holder: subprocess.Popen) -> None:
    """Until ``unshare`` has made the holder's namespace: before that, /proc/<pid>/ns/net is the host's, and every
    address, route and rule below would land on the host."""
    host = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if holder.poll() is not None:
            raise RuntimeError(f"unshare --net exited with {holder.returncode}")
        if os.readlink(f"/proc/{holder.pid}/ns/net") != host:
            return
        time.sleep(0.01)
    raise RuntimeError("unshare --net made no network namespace within 10 s")


@contextmanager
def api_server_only(apiserver: str, server_ip: str) -> Iterator[list[str]]:
    """The command prefix that runs a program in the namespace; ``apiserver`` is the kubeconfig's URL (127.0.0.1)."""
    url = urlparse(apiserver)
    port = url.port or 443
    suffix = secrets.token_hex(2)
    host_link, link = f"mlctl-h{suffix}", f"mlctl-n{suffix}"
    subnet = f"10.218.{int(suffix, 16) % 250}"
    holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"])
    inside = ["nsenter", f"--net=/proc/{holder.pid}/ns/net", "--"]
    try:
        _own_namespace(holder)
        _run("ip", "link", "add", host_link, "type", "veth", "peer", "name", link, "netns", str(holder.pid))
        _run("ip", "addr", "add", f"{subnet}.1/30", "dev", host_link)
        _run("ip", "link", "set", host_link, "up")
        _run(*inside, "ip", "link", "set", "lo", "up")
        _run(*inside, "ip", "addr", "add", f"{subnet}.2/30", "dev", link)
        _run(*inside, "ip", "link", "set", link, "up")
        _run(*inside, "ip", "route", "add", f"{server_ip}/32", "via", f"{subnet}.1")
        # A packet for 127.0.0.1 may leave through the veth once rewritten (per namespace, gone with it).
        _run(*inside, "sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1")
        rules = RULES.format(local=url.hostname, port=port, server=server_ip, link=link, address=f"{subnet}.2")
        _run(*inside, "nft", "-f", "-", stdin=rules)
        yield inside
    finally:
        subprocess.run(["ip", "link", "del", host_link], capture_output=True, check=False, timeout=30)
        holder.kill()
        holder.wait(timeout=30)
