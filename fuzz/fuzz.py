"""Run a guestclock fuzz target for a while: ``python fuzz/fuzz.py xml|help [--seconds N] [--seed S]``.

Inputs that raise anything but a GuestclockError are written to ``fuzz/crashes/`` and listed
at the end; the exit status is 1 when there was any. CI runs the same targets for a few
seconds in tests/test_fuzz.py; run this for minutes or hours after touching a parser.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import random
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=("xml", "help"))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    if args.target == "xml":
        target, mutate = targets.xml_target, targets.Mutator(targets.xml_seeds(), targets.XML_TOKENS, rng)
    else:
        target, mutate = targets.help_target, targets.Mutator(targets.help_seeds(), targets.HELP_TOKENS, rng)
    crashes = Path(__file__).resolve().parent / "crashes"
    found: list[Path] = []

    def on_bug(data: bytes, exc: BaseException) -> None:
        crashes.mkdir(exist_ok=True)
        path = crashes / f"{args.target}-{hashlib.sha256(data).hexdigest()[:16]}"
        path.write_bytes(data)
        path.with_suffix(".txt").write_text("".join(traceback.format_exception(exc)))
        found.append(path)
        print(f"BUG: {type(exc).__name__}: {exc} -> {path}", file=sys.stderr)

    deadline = time.monotonic() + args.seconds

    def inputs() -> Iterator[bytes]:
        for _ in itertools.count():
            if time.monotonic() > deadline:
                return
            yield mutate()

    counts = targets.run(target, inputs(), on_bug=on_bug)
    total = sum(counts.values())
    print(f"{args.target}: {total} inputs in {args.seconds:g} s (seed {seed}); outcomes {dict(sorted(counts.items()))}")
    print(f"{len(found)} bug(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
