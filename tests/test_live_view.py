"""The search's live view (tune/live_view.py) fed the trial objects Ray would hand it."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

from tune.live_view import LiveView, error_line
from tune.terminal import MAX_WIDTH, clip


def trial(tid: str, status: str = "RUNNING", **config) -> SimpleNamespace:
    return SimpleNamespace(trial_id=tid, status=status, config=config, num_failures=0, error_file=None)


def view() -> LiveView:
    v = LiveView(num_samples=4, max_epochs=2, searched=["lr", "backbone"], max_failures=2, status_every_s=0)
    v.setup()
    return v


def test_events_are_one_short_line_each(capsys):
    v = view()
    a = trial("a", lr=1e-3, backbone="/very/long/path/to/a/backbone/folder/" + "x" * 300)
    v.on_trial_start(0, [a], a)
    v.on_trial_result(0, [a], a, {"val_pearson": 0.5, "epoch": 0.5})
    v.on_trial_result(0, [a], a, {"val_pearson": 0.4, "epoch": 1.0})
    v.on_trial_complete(0, [a], a)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and all(len(line) <= MAX_WIDTH for line in out)
    assert "lr=0.001" in out[0] and "..." in out[0]
    assert out[1].endswith("val_pearson 0.5000  best so far") and "best" not in out[2]
    assert "stopped by the scheduler at epoch 1.00 of 2" in out[3]


def test_status_line_counts_trials_epochs_and_an_upper_bound_eta(capsys):
    v = view()
    a, b = trial("a", "TERMINATED"), trial("b", "RUNNING")
    v.on_trial_result(0, [a, b], a, {"val_pearson": 0.7, "epoch": 2.0})
    v.on_trial_result(0, [a, b], b, {"val_pearson": 0.2, "epoch": 1.0})
    line = v.status_line([a, b], now=v.started_at + 30)
    # 2 of 4 samples created; 3 of 4*2 epochs spent in 30 s -> at most 50 s left
    assert line.startswith("status: 1 running, 2 pending, 1 done")
    assert "epochs 3.0/8" in line and "best 0.7000 (a)" in line and "ETA <= 50s" in line


def test_status_line_is_rate_limited(capsys):
    v = LiveView(num_samples=1, max_epochs=1, searched=[], max_failures=0, status_every_s=3600)
    v.setup()
    v.on_step_end(0, [])
    assert capsys.readouterr().out == ""


def test_errors_show_the_last_line_of_the_trial_error_file(tmp_path, capsys):
    err = tmp_path / "error.txt"
    err.write_text("Traceback (most recent call last):\n  File x\nRuntimeError: CUDA out of memory\n\n")
    t = SimpleNamespace(trial_id="c", status="ERROR", config={}, num_failures=3, error_file=str(err))
    assert error_line(t) == "RuntimeError: CUDA out of memory"
    v = view()
    v.on_trial_error(0, [t], t)
    assert "c ERROR after 3 attempt(s): RuntimeError: CUDA out of memory" in capsys.readouterr().out


def test_the_view_pickles_into_ray_experiment_state():
    v = view()
    a = trial("a")
    v.on_trial_result(0, [a], a, {"val_pearson": 0.3, "epoch": 1.0})
    back = pickle.loads(pickle.dumps(v))
    assert back.best == (0.3, "a") and back.started_at is None


def test_clip_keeps_short_lines_and_marks_cut_ones():
    assert clip("abc", 5) == "abc"
    assert clip("abcdefgh", 5) == "ab..."


def test_an_unchanged_status_is_not_repeated_every_30_s(capsys):
    v = view()
    a = trial("a")
    v.on_step_end(0, [a])
    v.on_step_end(0, [a])  # nothing happened since: stays quiet
    v.on_trial_result(0, [a], a, {"val_pearson": 0.1, "epoch": 0.5})
    capsys.readouterr()
    v.on_step_end(0, [a])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "epochs 0.5/8" in out[0]


def test_a_trial_cut_short_by_ctrl_c_is_not_counted_done(capsys):
    # Ray's interrupt clean-up marks running and starting trials TERMINATED without completing them
    v = view()
    a, b, c = trial("a", "RUNNING"), trial("b", "PENDING"), trial("c", "RUNNING")
    v.on_trial_start(0, [a, b, c], a)
    v.on_step_end(0, [a, b, c])
    c.status = "TERMINATED"
    v.on_trial_complete(0, [a, b, c], c)
    a.status = b.status = "TERMINATED"
    restored = trial("d", "TERMINATED")  # finished in an earlier run, restored so: done
    v.on_experiment_end([a, b, c, restored])
    line = capsys.readouterr().out.splitlines()[-1]
    assert "0 running, 0 pending, 2 done" in line and "2 interrupted" in line and "all done" not in line
