"""`python -m tune.prefetch --space NAME` (cluster.yaml setup_commands), checked offline."""

from __future__ import annotations

import os
import subprocess
import sys

from trainables.paths import PROJECT_ROOT
from tune import prefetch


def test_lists_what_the_trials_of_a_space_load():
    assert prefetch.items_for_space("roberta_large") == [
        prefetch.Item("klue/roberta-large", "model"), prefetch.Item("klue/roberta-large", "tokenizer")]
    # a random-init backbone only needs its config
    assert [i.kind for i in prefetch.items_for_space("tiny")] == ["config", "tokenizer"]


def test_a_local_backbone_is_left_alone(capsys):
    # HF_HUB_OFFLINE=1 in tests: had it tried to download anything it would have failed
    assert prefetch.main(["--space", "tiny"]) == 0
    out = capsys.readouterr().out
    local = str(PROJECT_ROOT / "assets" / "tiny-bert")
    assert out.count(f"{local}: local directory, nothing to download") == 2, out


def test_an_unknown_space_is_an_error(capsys):
    assert prefetch.main(["--space", "no_such_space"]) == 2
    assert "unknown search space 'no_such_space'" in capsys.readouterr().err


def test_offline_hub_space_fails_at_once_with_a_clear_message(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}  # an empty HF cache
    env.pop("TRANSFORMERS_OFFLINE", None)
    proc = subprocess.run([sys.executable, "-m", "tune.prefetch", "--space", "roberta_large"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "could not fetch model 'klue/roberta-large' for space 'roberta_large'" in proc.stderr
    assert "HF_HUB_OFFLINE=1 forbids downloading it" in proc.stderr
    assert "Traceback" not in proc.stderr
