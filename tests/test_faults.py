"""tune/faults.py: what the driver says about a damaged experiment, and the wall time over resumes."""

from __future__ import annotations

import json

import pytest

from trainables.config import ConfigError
from tune import faults


def test_a_cut_ray_state_is_refused_in_one_line_before_ray_reads_it(tmp_path):
    exp = tmp_path / "e"
    exp.mkdir()
    (exp / "experiment_state-2026-01-01_00-00-00.json").write_text('{"trial_data": [["{}", "{}"]]}')
    (exp / "experiment_state-2026-01-02_00-00-00.json").write_text('{"trial_data": [["{\\"trial_id')  # cut
    with pytest.raises(ConfigError) as e:
        faults.restore(None, str(exp), None, {"resume_command": "python tune/search.py --resume"})
    msg = str(e.value)
    assert "experiment_state-2026-01-02_00-00-00.json is cut short or damaged (JSONDecodeError" in msg
    assert "\n" not in msg and "start a new --name" in msg


def test_a_resume_adds_its_wall_time_to_the_first_runs(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"wall_seconds": 40.5}))
    assert faults.wall_seconds(str(tmp_path), 5.0, resume=True) == 45.5
    assert faults.wall_seconds(str(tmp_path), 5.0, resume=False) == 5.0


def test_a_driver_killed_before_ray_saved_any_state_starts_afresh_on_resume(tmp_path, capsys):
    exp = tmp_path / "e"
    with pytest.raises(ConfigError, match="no experiment to resume at"):
        faults.ray_state_saved(str(exp), None)
    exp.mkdir()  # the driver was killed before it wrote anything
    assert faults.ray_state_saved(str(exp), None) is False
    (exp / "tuner.pkl").write_bytes(b"")  # all Ray wrote before the kill
    (exp / "invocation.json").write_text("{}")
    assert faults.ray_state_saved(str(exp), None) is False
    assert "stopped before Ray saved any trial state: starting it afresh" in capsys.readouterr().out
    (exp / "experiment_state-2026-01-01_00-00-00.json").write_text('{"trial_data": []}')
    assert faults.ray_state_saved(str(exp), None) is True
