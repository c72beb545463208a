"""Command line of the local stack: hack/stack up|down|status|env|build."""

from __future__ import annotations

import argparse
import sys

from .stack import Stack

USAGE = """\
hack/stack COMMAND

  up       build what is missing (cached), start registry, Ollama and Kubernetes
  down     stop everything the stack started (by pid); --purge also deletes its state
  status   show what is running
  env      print shell exports to use the stack (eval "$(hack/stack env)")
  build    only build the binaries into the cache
  extra-ollama start|stop|url NAME
           another real Ollama with an empty models dir (for pull/prune scenarios)

Environment: MLOPS_STACK_CACHE (build cache, default ~/.cache/mlops-ollama),
MLOPS_STACK_STATE (state, default <repo>/.stack), MLOPS_STACK_*_PORT,
STACK_CLUSTER=kind (use kind + a container engine instead of kwok).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hack/stack", usage=USAGE, add_help=True)
    parser.add_argument("command", nargs="?")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--purge", action="store_true", help="with down: also delete the stack's state directory")
    args = parser.parse_args(argv)
    commands = ("up", "down", "status", "env", "build", "extra-ollama")
    if args.command not in commands:
        given = f"unknown command {args.command!r}" if args.command else "no command given"
        print(f"error: {given}; expected one of: {', '.join(commands)}\n\n{USAGE}", file=sys.stderr)
        return 2
    stack = Stack()
    if args.command == "up":
        stack.up()
    elif args.command == "down":
        stack.down(purge=args.purge)
    elif args.command == "status":
        report = stack.status()
        width = max(map(len, report))
        for key, value in report.items():
            print(f"{key:<{width}}  {value}")
        return 0 if all(v != "down" for v in report.values()) else 3
    elif args.command == "env":
        print("\n".join(stack.env_lines()))
    elif args.command == "build":
        stack.build()
    elif args.command == "extra-ollama":
        if len(args.args) != 2 or args.args[0] not in ("start", "stop", "url"):
            print("error: usage: hack/stack extra-ollama start|stop|url NAME", file=sys.stderr)
            return 2
        action, name = args.args
        server = stack.extra_ollama(name)
        if action == "start" and not (server.process.running() and server.healthy()):
            server.start()
        elif action == "stop":
            server.stop()
        if action != "stop":
            print(server.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
