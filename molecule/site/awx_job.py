"""Run ``ansible-playbook mlops.ollama.site`` the way an AWX job runs it and print a JSON summary.

The job's environment is built from nothing, as AWX's execution environment would have it: PATH, a
HOME of its own (so no ~/.kube/config can be found), the collections path holding the installed tarball,
and the Kubernetes credential's injected K8S_AUTH_HOST / K8S_AUTH_API_KEY / K8S_AUTH_VERIFY_SSL. Nothing
of the caller's environment (molecule's K8S_AUTH_KUBECONFIG, ANSIBLE_*) leaks in.

With --kubeconfig instead of --host/--token-file the job runs as the administrator (K8S_AUTH_KUBECONFIG), for what the
automation's token may not see, such as a check-mode run against a namespace that does not exist yet.

The summary (stdout, one JSON object) says what the run did: its exit code, the recap per host, every task
that reported a change, every task that failed, and the artifacts published with set_stats.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def job_environment(job_dir: Path, collections: str, auth: dict[str, str]) -> dict[str, str]:
    home = job_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    return auth | {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        # In AWX, HOME and the user's passwd entry agree; here they do not, and async_status expands "~" from
        # the passwd entry while the async wrapper uses HOME. An absolute async dir keeps the two together.
        "ANSIBLE_ASYNC_DIR": str(job_dir / "async"),
        "LANG": "C.UTF-8",
        "ANSIBLE_COLLECTIONS_PATH": collections,
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_SHOW_CUSTOM_STATS": "true",
        "ANSIBLE_NOCOLOR": "1",
    }


def token_auth(host: str, token: str) -> dict[str, str]:
    """What AWX's Kubernetes credential injects."""
    return {"K8S_AUTH_HOST": host, "K8S_AUTH_API_KEY": token, "K8S_AUTH_VERIFY_SSL": "false"}


def summarize(returncode: int, stdout: str, stderr: str) -> dict:
    summary: dict = {"rc": returncode, "stderr_tail": stderr[-2000:]}
    try:
        report = json.loads(stdout)
    except ValueError:
        # ansible-playbook stopped before the callback printed (a syntax or inventory error).
        summary["stdout_tail"] = stdout[-4000:]
        return summary
    changed, failed = [], []
    for play in report["plays"]:
        for task in play["tasks"]:
            name = task["task"]["name"]
            for result in task["hosts"].values():
                if result.get("changed"):
                    changed.append(name)
                if result.get("failed") or result.get("unreachable"):
                    failed.append({"task": name, "msg": str(result.get("msg", ""))[:2000]})
    summary.update(stats=report["stats"], changed_tasks=changed, failed_tasks=failed, artifacts=report.get("global_custom_stats", {}))
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job-dir", required=True, type=Path, help="the job's working directory (its HOME goes inside)")
    parser.add_argument("--collections", required=True, help="the collections path holding the installed mlops.ollama")
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--host", help="the Kubernetes API server URL (K8S_AUTH_HOST)")
    parser.add_argument("--token-file", type=Path, help="a file holding the bearer token (K8S_AUTH_API_KEY)")
    parser.add_argument("--kubeconfig", help="run as the administrator with this kubeconfig instead of --host and --token-file")
    parser.add_argument("playbook_args", nargs="*", help="more ansible-playbook arguments (after --), e.g. --tags models")
    args = parser.parse_args()

    if args.kubeconfig:
        auth = {"K8S_AUTH_KUBECONFIG": args.kubeconfig}
    elif args.host and args.token_file:
        auth = token_auth(args.host, args.token_file.read_text().strip())
    else:
        parser.error("give --host and --token-file (the automation's token), or --kubeconfig (the administrator)")
    env = job_environment(args.job_dir, args.collections, auth)
    playbook = Path(sys.executable).with_name("ansible-playbook")
    run = subprocess.run(
        [str(playbook), "mlops.ollama.site", "-i", args.inventory, *args.playbook_args],
        cwd=args.job_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(json.dumps(summarize(run.returncode, run.stdout, run.stderr)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
