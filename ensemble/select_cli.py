"""Command line of the ensemble selection: `python ensemble/select.py …` or `python -m ensemble.select_cli …`.

    python ensemble/select.py --experiment runs/sts_base [--method all] [--top-k 20] [--output OUT]
    python ensemble/select.py --experiment runs/e5 --experiment runs/tiny --output runs/ens   (pooled)

See ensemble/selection.py for what it reads and writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ensemble.methods import METHODS
from ensemble.pool import expand_experiments
from ensemble.selection import Settings, add_round_argument, run
from trainables.fileio import check_output


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="ensemble/select.py",
        description="Select an ensemble from the top-K trials' saved predictions and write a submission.",
    )
    parser.add_argument(
        "--experiment", required=True, action="append", metavar="DIR",
        help="experiment directory (tune/search.py); repeat it, or quote a glob, to pool several experiments' "
             "top trials (their dev and test rows must agree)",
    )
    parser.add_argument("--top-k", type=int, default=20, help="candidate trials, best by val_pearson (20)")
    parser.add_argument(
        "--method",
        default="all",
        choices=[*METHODS.names(), "all"],
        help="selection method; 'all' runs every one and keeps the best held-out (all)",
    )
    parser.add_argument("--trials", type=int, default=1000, help="random subsets tried by 'random' (1000)")
    parser.add_argument("--ensemble-size", type=int, default=25, help="greedy selection steps (25)")
    parser.add_argument("--seed", type=int, default=0, help="seed for random subsets and dev halves (0)")
    parser.add_argument("--output", type=Path, default=None, help="output directory (EXPERIMENT/ensemble)")
    add_round_argument(parser, "round predictions to this many decimals (1 matches official labels); default: none")
    parser.add_argument(
        "--holdout-repeats",
        type=int,
        default=50,
        help="random dev halves for the honest estimate; 0 skips it (50)",
    )
    parser.add_argument(
        "--require-test",
        action="store_true",
        help="fail when the members carry no test predictions instead of skipping the submission",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail on a trial whose prediction files are damaged instead of skipping it with a warning",
    )
    args = parser.parse_args(argv)
    experiments = tuple(expand_experiments(args.experiment))
    if args.output is None and len(experiments) > 1:
        raise ValueError(f"{len(experiments)} experiments pooled: pass --output DIR (no single experiment owns it)")
    return Settings(
        experiments=experiments,
        output=args.output if args.output is not None else experiments[0] / "ensemble",
        method=args.method,
        top_k=args.top_k,
        trials=args.trials,
        ensemble_size=args.ensemble_size,
        seed=args.seed,
        decimals=args.decimals,
        holdout_repeats=args.holdout_repeats,
        require_test=args.require_test,
        strict=args.strict,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        settings = parse_args(argv)
        check_output(settings.output, min_free_mb=10)  # before any work; leaves nothing behind
        run(settings)
    except ValueError as exc:  # ExperimentError included: bad input, reported without a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
