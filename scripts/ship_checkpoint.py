"""Ship a trained pipeline folder (stage 0, 1 or 2) with float16 weights: the command line of
:func:`humo_lite.ship.ship_checkpoint` (which says what it does and why).

    python scripts/ship_checkpoint.py outputs/micro-stage0-roles/pipeline data_samples/checkpoints/humo-micro
"""

from __future__ import annotations

import argparse
import shlex
import sys

from humo_lite.ship import ship_checkpoint


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src", help="pipeline folder written by `humo-lite train stage0` or `stage1` (OUT/pipeline)")
    parser.add_argument("dst", help="where to ship it, e.g. data_samples/checkpoints/humo-micro")
    parser.add_argument("--rescore-float32", action="store_true",
                        help="run the check on the float32 weights again too (the check changed since training)")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "scripts/ship_checkpoint.py", *(argv if argv is not None else sys.argv[1:])])
    manifest = ship_checkpoint(args.src, args.dst, command, args.rescore_float32)
    print(f"shipped {args.dst}: {manifest['kind']} check on float16 weights {manifest['metrics']}")


if __name__ == "__main__":
    main()
