"""Run a command while other work keeps the CPUs busy, as on a user's laptop or a shared CI box.

Starts ``--loops`` CPU-bound busy loops (``python -c "while True: pass"``, one process
each), runs the command, stops the loops and prints the command's wall time and exit
code. The default command is the README's test command, so

    python benchmarks/under_load.py                 # make test with two busy loops
    python benchmarks/under_load.py --loops 0       # the same, idle, for the ratio
    python benchmarks/under_load.py -- make report  # any other command

shows whether the suite holds when the machine is not idle and what the load costs.
Exits with the command's exit code.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BUSY = "while True: pass"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=2, help="busy loops to run alongside (default 2)")
    parser.add_argument("command", nargs="*", default=["make", "test"], help="the command (default: make test)")
    args = parser.parse_args()
    loops = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(args.loops)]
    start = time.perf_counter()
    try:
        code = subprocess.call(args.command)
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    elapsed = time.perf_counter() - start
    print(f"{' '.join(args.command)}: exit {code} in {elapsed / 60:.1f} min with {args.loops} busy loop(s)")
    sys.exit(code)


if __name__ == "__main__":
    main()
