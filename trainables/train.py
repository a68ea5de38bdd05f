"""Train one trial without Ray: the space's default point plus `--set` overrides.

    python trainables/train.py --space tiny --set max_epochs=1 --output OUT

writes OUT/result.json and OUT/best/ (weights, config, dev/test predictions), and makes OUT a one-trial
experiment (leaderboard.csv, summary.json, history.csv, data.json: docs/experiment-format.md) that
`ensemble/select.py`, `ensemble/predict.py` and `tune/report.py` read like a search's; with a test set,
OUT/submission.csv (`id,target`). Data is read and validated before OUT is touched, and OUT/best is replaced
atomically at each improvement.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trainables.config import ALL_FOLDS, ConfigError, parse_overrides
from trainables.data import DataError
from trainables.fileio import OutputError, atomic_write_text, check_output
from trainables.precision import cpu_precision_warning
from trainables.space import load_space


class _BestWriter:
    def __init__(self, output: Path) -> None:
        self.output = output

    def on_validation(self, metrics, improved, write_checkpoint) -> None:
        line = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
        print(f"[validation] {line}{'  (best so far)' if improved else ''}", flush=True)
        if improved:
            write_checkpoint(self.output / "best")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="tiny", help="search space name or YAML path (default: tiny)")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", default=[],
                   help="override a config knob, e.g. --set lr=3e-5 (repeatable)")
    p.add_argument("--output", required=True, help="output folder for result.json and best/")
    p.add_argument("--progress", choices=("auto", "bar", "lines", "off"), default="auto",
                   help="in-epoch progress: Lightning's bar, a line every 30 s, or none (auto: bar on a terminal, "
                        "lines otherwise)")
    return p


def _on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        space = load_space(args.space)
        cfg = space.default_config(parse_overrides(args.overrides))
        check_output(args.output, min_free_mb=100)  # before any work; leaves nothing behind
        from trainables.pipeline import prepare_data

        data = prepare_data(cfg)  # validates every input file before anything is written
    except (ConfigError, DataError, OutputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    output = Path(args.output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    for line in data.warnings:
        print(f"warning: {line}", file=sys.stderr)
    if not _on_gpu() and (line := cpu_precision_warning(cfg.precision)):
        print(f"warning: {line}", file=sys.stderr)
    if data.augmentation_report:
        print(data.augmentation_report)
    print(f"train {len(data.train)} rows, dev {len(data.dev)} rows; token cache hits={data.cache_hits} "
          f"misses={data.cache_misses}", flush=True)
    if cfg.fold == ALL_FOLDS:  # every fold in turn, one candidate (trainables/kfold.py)
        from trainables.kfold import train_all_folds

        metrics = train_all_folds(cfg, _BestWriter(output))
        atomic_write_text(output / "result.json", json.dumps(metrics, indent=2))
        print(f"wrote {output / 'result.json'} and {output / 'best'} (the {cfg.num_folds} fold models)")
        return 0
    from trainables.training import train  # torch + Lightning: only once the inputs are known to be good

    mode = args.progress if args.progress != "auto" else ("bar" if sys.stdout.isatty() else "lines")
    overrides = None
    if mode == "lines":
        from trainables.progress import PeriodicProgress

        overrides = {"callbacks": [PeriodicProgress()]}
    result = train(cfg, _BestWriter(output), data=data, log_dir=output / "logs", progress_bar=mode == "bar",
                   trainer_overrides=overrides)
    payload = result.to_dict()
    atomic_write_text(output / "result.json", json.dumps(payload, indent=2))
    from trainables.one_trial import write_one_trial_experiment

    write_one_trial_experiment(output, result, data, space=space.name)
    print(f"val_pearson={result.val_pearson:.4f} (epoch {result.best_epoch}) epochs={result.epochs} "
          f"steps={result.steps} seconds={result.seconds} pad_fraction={result.pad_fraction:.4f} "
          f"train samples/s={result.train_samples_per_second} (steps only) "
          f"validation={result.validation_seconds}s ({result.validations} passes)")
    print(f"wrote {output / 'result.json'}, {output / 'best'} and the experiment files (leaderboard.csv, "
          f"summary.json{', submission.csv' if data.test is not None else ''})")
    print(f"next: python ensemble/select.py --experiment {output}\n"
          f"      python tune/report.py --experiment {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
