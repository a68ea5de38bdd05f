"""The report's ensemble section: what ensemble/select.py chose, its honest estimate, curves and buckets."""

from __future__ import annotations

from html import escape
from typing import Any

from tune.reporting import plots, scores
from tune.reporting.markup import Cell, figure, fmt, fmt_score, note, section, table
from tune.reporting.read import Experiment


def _points(items: Any, x_key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for p in items if isinstance(items, list) else []:
        if isinstance(p, dict) and p.get(x_key) is not None and p.get("dev_pearson") is not None:
            xs.append(float(p[x_key]))
            ys.append(float(p["dev_pearson"]))
    return xs, ys


SINGLE = "best_single_by_dev"


def _test_by_method(ens: dict[str, Any]) -> dict[str, float]:
    raw = ens.get("test_pearson_by_method")
    if not isinstance(raw, dict):
        return {}
    return {str(k): v for k, r in raw.items() if (v := scores.number(r)) is not None}


def _test_facts(ens: dict[str, Any]) -> list[tuple[str, str]]:
    test = scores.number(ens.get("test_pearson"))
    if test is None:
        return []
    single = _test_by_method(ens).get(SINGLE)
    return [("test_pearson", f"<b>{fmt_score(test)}</b> <span class='nsel'>({scores.NOT_USED})</span>"
             + ("" if single is None else f" — best single trial by dev: {fmt_score(single)}"))]


def _member_rows(exp: Experiment, members: list[dict[str, Any]],
                 experiments: dict[str, Experiment] | None) -> str:
    """The members, grouped by the experiment each came from when several were pooled, best weight first."""
    by_dir = experiments or {str(exp.root.resolve()): exp}
    sources = list(dict.fromkeys(str(m.get("experiment") or exp.root.resolve()) for m in members))
    pooled = len(sources) > 1 or len(by_dir) > 1

    def board_test(source: str) -> dict[str, Any] | None:
        e = by_dir.get(source)
        if e is None or not scores.has_test_column(e):
            return None
        return dict(zip(e.board["trial_id"].astype(str), e.board["test_pearson"], strict=True))

    tests = {src: board_test(src) for src in sources}
    with_test = any(t is not None for t in tests.values())
    rows: list[list[Cell]] = []
    for src in sources:
        mine = [m for m in members if str(m.get("experiment") or exp.root.resolve()) == src]
        for m in sorted(mine, key=lambda m: -(m.get("weight") or 0)):
            row: list[Cell] = [escape(str(m.get("trial_id"))), fmt_score(m.get("weight")),
                               fmt_score(m.get("dev_pearson"))]
            if with_test:
                row.append(fmt_score((tests[src] or {}).get(str(m.get("trial_id")))))
            rows.append(([escape(src.rsplit("/", 1)[-1])] if pooled else []) + row)
    headers = (["experiment"] if pooled else []) + ["trial", "weight", "dev_pearson"] + (
        ["test_pearson"] if with_test else [])
    body = "<h3>Members" + (" by experiment" if pooled else "") + "</h3>"
    if pooled:
        weight = {src: sum(float(m.get("weight") or 0) for m in members
                           if str(m.get("experiment") or exp.root.resolve()) == src) for src in sources}
        body += note("Pooled from " + ", ".join(
            f"{escape(src)} ({sum(str(m.get('experiment')) == src for m in members)} member(s), weight "
            f"{weight[src]:.3f})" for src in sources) + ".")
    return body + table(headers, rows, header_notes={"test_pearson": scores.NOT_USED})


def _stacking_note(curve: dict[str, Any]) -> str:
    points = [p for p in curve.get("points") or [] if isinstance(p, dict)]
    if not points:
        return ""
    cells = ", ".join(f"{fmt(p.get('alpha'))}: {fmt_score(p.get('cv_pearson'))}" for p in points)
    folds, alpha = escape(fmt(curve.get("folds"))), escape(fmt(curve.get("alpha")))
    return note(f"stacking: ridge strength chosen by {folds}-fold cross-validation on dev (pooled out-of-fold "
                f"Pearson per strength: {escape(cells)}); chosen {alpha}.")


def ensemble_section(exp: Experiment, experiments: dict[str, Experiment] | None = None) -> str:
    """`experiments` (resolved directory -> experiment): the searches a pooled ensemble drew its members from."""
    ens = exp.ensemble or {}
    chosen = ens.get("method")
    best_single = ens.get("best_single") if isinstance(ens.get("best_single"), dict) else {}
    members = [m for m in ens.get("members") or [] if isinstance(m, dict)]
    single_name = best_single.get("name") or best_single.get("trial_id")  # EXPERIMENT/trial_id when pooled
    facts = [
        ("source", escape(str(exp.ensemble_path))),
        ("chosen method", f"<b>{escape(str(chosen))}</b> (requested: {escape(str(ens.get('method_requested')))})"),
        ("dev_pearson", f"{fmt_score(ens.get('dev_pearson'))} (submitted form, clipped/rounded: "
                        f"{fmt_score(ens.get('dev_pearson_submitted'))}) — selected on this same dev set"),
        ("best single", f"{escape(str(single_name))}: {fmt_score(best_single.get('dev_pearson'))}"),
        *_test_facts(ens),
        ("members", str(len(members))),
        ("dev / test rows", f"{escape(fmt(ens.get('n_dev')))} / {escape(fmt(ens.get('n_test')))}"),
        ("submission", escape(str(ens.get("submission") or "none (members carry no test predictions)"))),
    ]
    body = "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"

    body += scores.ensemble_comparison(exp, scores.number(ens.get("test_pearson")))
    held = ens.get("held_out") if isinstance(ens.get("held_out"), dict) else {}
    methods = ens.get("methods") if isinstance(ens.get("methods"), dict) else {}
    test = _test_by_method(ens)
    names = list(dict.fromkeys([*methods, *held, *(n for n in test if n != SINGLE)]))
    if names:
        rows: list[list[Cell]] = []
        classes = []
        for name in names:
            h = held.get(name) or {}
            m = methods.get(name) or {}
            n_members = len(m.get("weights") or {}) if m else None
            rows.append([escape(name), fmt_score(m.get("dev_pearson")) if m else "–",
                         fmt_score(h.get("mean")) if h else "–", fmt(h.get("sd"), 3) if h else "–",
                         fmt_score(h.get("selection_mean")) if h else "–",
                         (f"{h['optimism']:+.4f}" if h.get("optimism") is not None else "–") if h else "–",
                         escape(fmt(h.get("repeats"))) if h else "–", fmt(n_members)])
            classes.append("best" if name == chosen else "")
        headers = ["method", "dev (full)", "held-out mean", "sd", "selection half", "optimism", "repeats", "members"]
        groups = ""
        if test:
            for name, row in zip(names, rows, strict=True):
                row.append(fmt_score(test[name]) if name in test else "–")
            if SINGLE in test:
                rows.append([f"best single by dev ({escape(str(single_name))})",
                             fmt_score(best_single.get("dev_pearson")), *["–"] * 6, fmt_score(test[SINGLE])])
                classes.append("")
            headers.append("test")
            groups = ('<tr><th colspan="8" class="group">dev: what the selection saw</th>'
                      '<th class="group">labelled test</th></tr>')
        body += "<h3>Held-out estimate per method" + (" and test Pearson" if test else "") + "</h3>" + table(
            headers, rows, classes, groups=groups, header_notes={"test": scores.NOT_USED} if test else None)
        if test:
            body += note(escape(scores.test_note(ens)) + ".")
        if not held:
            body += note("No held-out estimate (--holdout-repeats 0): the dev numbers above are optimistic.")
        if ens.get("held_out_note"):
            body += note(escape(str(ens["held_out_note"])))

    curves = []
    for name, c in (ens.get("curves") or {}).items():
        if not isinstance(c, dict):
            continue
        if c.get("kind") == "stacking_cv":
            body += _stacking_note(c)
        if c.get("kind") == "best_so_far_by_trial":
            xs, ys = _points(c.get("points"), "trial")
            tried = c.get("trials")
            if xs and isinstance(tried, int | float) and tried > xs[-1]:
                xs, ys = [*xs, float(tried)], [*ys, ys[-1]]  # the best stayed best until the last subset
                curves.append(plots.SelectionCurve(f"{name}: best of {fmt(c.get('trials'))} random subsets", xs, ys,
                                                   "subsets tried", log_x=max(xs) > 50 and min(xs) > 0))
        elif c.get("kind") == "greedy_steps":
            xs, ys = _points(c.get("steps"), "step")
            if xs:
                curves.append(plots.SelectionCurve(
                    f"{name}: greedy steps (initial {fmt(c.get('init_size'))} member(s))", xs, ys, "step",
                    best_x=c.get("best_step")))
    if curves:
        body += "<h3>Selection curves</h3>" + figure(
            plots.selection_curves(curves, best_single.get("dev_pearson")),
            "Dev Pearson of the ensemble as the selection proceeds (full dev set, so optimistic); dashed: "
            "the best single trial.")

    buckets = ens.get("buckets") if isinstance(ens.get("buckets"), dict) else {}
    tables = {k: [r for r in v if isinstance(r, dict)] for k, v in buckets.items() if isinstance(v, list)}
    if tables:
        names_b = {"best_single": f"best single ({single_name})", "ensemble": f"ensemble ({chosen})"}
        first = next(iter(tables.values()))
        labels = [str(r.get("bucket")) for r in first]
        plain = [i for i, lab in enumerate(labels) if lab != "all"]
        series = {names_b.get(k, k): [rows[i].get("pearson") if i < len(rows) else None for i in plain]
                  for k, rows in tables.items()}
        body += "<h3>Per label bucket (dev)</h3>" + figure(
            plots.bucket_bars([labels[i] for i in plain], series),
            "Pearson within each gold-label bucket: the ranking inside a band, which the overall number hides.")
        headers = ["bucket", "n"] + ["pearson", "mae", "bias"] * len(tables)
        groups = '<tr><th colspan="2"></th>' + "".join(
            f'<th colspan="3" class="group">{escape(names_b.get(k, k))}</th>' for k in tables) + "</tr>"
        rows = []
        for i, lab in enumerate(labels):
            cells = [escape(lab), escape(fmt(first[i].get("count")))]
            for tab in tables.values():
                r = tab[i] if i < len(tab) else {}
                bias = r.get("bias")
                mae = r.get("mae")
                cells += [fmt_score(r.get("pearson")), "–" if mae is None else f"{mae:.3f}",
                          "–" if bias is None else f"{bias:+.3f}"]
            rows.append(cells)
        body += '<div class="scroll">' + table(headers, rows, groups=groups) + "</div>"

    if members:
        body += _member_rows(exp, members, experiments)
    return section("ensemble", "Ensemble", body)
