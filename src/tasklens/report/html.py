"""The self-contained HTML report of ``tasklens analyze`` (and its PNG figures).

:func:`write_report` turns the content of results.json into ``report.html`` — one section
per stage, each opening with its two-line finding, then the evidence (figures embedded as
base64 PNG, tables whose cells carry the exact number in ``data-value``), then the stage's
time and settings. The page loads nothing from the network and runs no script. The same
figures are written to ``figures/<name>.png``. :class:`ReportWriter` re-renders only the
figures of stages that changed, so the CLI can rewrite the report after every stage;
:func:`run_and_report` is the library form of the whole command.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .._common.io import atomic_write

FigureSpec = tuple[str, str, Callable[[dict[str, Any]], Any]]


# --------------------------------------------------------------------------- figures
def _names(res: dict[str, Any]) -> list[str]:
    return list(res["task_names"])


def _arr(values: Any) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)


def _vec(values: Iterable[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _class_balance(res: dict[str, Any]) -> Any:
    from . import plot_class_balance

    names, counts, kinds = [], {}, {}
    for t in res["tasks"]:
        names.append(t["name"])
        kinds[t["name"]] = t["kind"] if t["kind"] != "multilabel" else "regression"
        if t["class_counts"] is not None:
            counts[t["name"]] = dict(zip(t["classes"], t["class_counts"]))
        else:  # regression: the stored histogram
            counts[t["name"]] = {"edges": t["histogram"]["edges"],
                                 "counts": t["histogram"]["counts"]}
    return plot_class_balance(names, counts, kinds, title="targets per task")


def _alignment(res: dict[str, Any]) -> Any:
    from . import plot_matrix

    return plot_matrix(_arr(res["mean_overlap"]), _names(res), symmetric=True,
                       title="alignment: mean overlap singular value (1 = same directions)",
                       exclude_diagonal_from_scale=True, value_label="mean overlap")


def _magnitudes(res: dict[str, Any]) -> Any:
    from . import plot_matrix

    ratio = _arr(res["frobenius_ratio"])
    with np.errstate(divide="ignore", invalid="ignore"):
        logr = np.log10(ratio)
    # antisymmetric, not an effect of one task on another: plain "task" axis labels
    return plot_matrix(logr, _names(res), symmetric=True, center=0.0,
                       exclude_diagonal_from_scale=True,
                       title="magnitude: log10 of ‖Σ_row‖ / ‖Σ_column‖",
                       value_label="log10 magnitude ratio")


def _predicted(res: dict[str, Any]) -> Any:
    from . import plot_loss_curves

    fig = plot_loss_curves(np.asarray(res["predicted_times"]), res["predicted_losses"],
                           log_y=False, title="predicted learning curves (linear theory)",
                           ylabel="excess loss / initial excess loss")
    fig.axes[0].set_xlabel("time (epochs × learning rate)", fontsize=8)
    return fig


def _loss_curves(res: dict[str, Any]) -> Any:
    from . import plot_loss_curves

    th = res.get("theory")
    kwargs: dict[str, Any] = {}
    if th is not None:
        kwargs = {"predicted_steps": np.asarray(th["predicted_steps"]),
                  "predicted": th["predicted"]}
    return plot_loss_curves(np.asarray(res["steps"]), res["normalized_losses"], log_y=False,
                            title="training loss (solid) vs theory (dashed, time rescaled)",
                            ylabel="(loss − min) / (initial − min)", **kwargs)


def _cosines(res: dict[str, Any]) -> Any:
    from . import plot_gradient_cosine

    if not res["cosine_steps"]:
        return None
    curves = {k.replace("|", " ↔ "): _vec(v) for k, v in res["cosines"].items()}
    return plot_gradient_cosine(np.asarray(res["cosine_steps"]), curves,
                                title="gradient cosine between tasks during training")


def _gs(res: dict[str, Any]) -> Any:
    from . import plot_matrix

    return plot_matrix(_arr(res["gs"]), _names(res), symmetric=True, center=0.0,
                       exclude_diagonal_from_scale=True, value_label="cosine",
                       title="GS: gradient similarity (mean over training)")


def _gt(res: dict[str, Any]) -> Any:
    from . import plot_matrix

    return plot_matrix(_arr(res["gt"]), _names(res), symmetric=False, center=0.0,
                       exclude_diagonal_from_scale=True, fmt=".1e",
                       value_label="relative loss decrease of row task",
                       title="GT: gradient transference (column's step onto row's loss)")


def _gains(res: dict[str, Any]) -> Any:
    from . import plot_task_gains

    names = list(res["per_task_gain"])
    return plot_task_gains(names, _vec(res["per_task_gain"][t]["mean"] for t in names),
                           _vec(res["per_task_gain"][t]["se"] for t in names),
                           title="all tasks in one network vs single-task (± SE over seeds)",
                           value_label="change of primary metric (%)")


def _pair_gains(res: dict[str, Any]) -> Any:
    from . import plot_matrix

    if res.get("pairs") is None:
        return None
    return plot_matrix(_arr(res["pairs"]["gain"]), list(res["per_task_gain"]), symmetric=False,
                       center=0.0, exclude_diagonal_from_scale=True, fmt=".1f",
                       value_label="change of row task's metric (%)",
                       title="measured pair gains (row trained with column)")


def _grouping(res: dict[str, Any]) -> Any:
    from . import plot_grouping

    return plot_grouping(res["groups"], list(res["assignment"]),
                         title=f"recommended networks (at most {res['budget']})")


def _methods(res: dict[str, Any]) -> Any:
    from . import plot_method_comparison

    methods = list(res["table"])
    tasks = list(next(iter(res["table"].values()))["per_task"])
    per_task = {t: (_vec(res["table"][m]["per_task"][t] for m in methods),
                    np.full(len(methods), np.nan)) for t in tasks}
    return plot_method_comparison(methods, _vec(res["table"][m]["delta_m"] for m in methods),
                                  _vec(res["table"][m]["delta_m_se"] for m in methods),
                                  per_task=per_task, title="Δm vs single-task (± SE over seeds)")


def _cka(res: dict[str, Any]) -> Any:
    from . import plot_cka_per_task

    names = _names(res)
    return plot_cka_per_task(names, _vec(res["cka"][t] for t in names),
                             title="CKA: multi-task shared layer vs each single-task model")


def _stl_cka(res: dict[str, Any]) -> Any:
    from . import plot_matrix

    return plot_matrix(_arr(res["stl_cka"]), _names(res), symmetric=True,
                       exclude_diagonal_from_scale=True, value_label="linear CKA",
                       title="CKA between the single-task models")


#: stage → [(figure name, caption, builder)]
FIGURES: dict[str, list[FigureSpec]] = {
    "summary": [("class_balance", "Targets of each task (class counts or histogram).",
                 _class_balance)],
    "theory": [("alignment", "Pairwise alignment of what the tasks read from the inputs.",
                _alignment),
               ("magnitudes", "Relative strength of the tasks' input–output correlations.",
                _magnitudes),
               ("predicted_losses", "Learning curves the linear theory predicts.", _predicted)],
    "multitask": [("loss_curves", "Training losses next to the theory's prediction.",
                   _loss_curves),
                  ("gradient_cosine", "Cosine of task gradients over training.", _cosines),
                  ("gs", "Gradient similarity (symmetric).", _gs),
                  ("gt", "Gradient transference (row: task affected; column: source).", _gt)],
    "baselines": [("task_gains", "Per-task gain of multi-task training.", _gains),
                  ("pair_gains", "Measured gain of each pair.", _pair_gains)],
    "grouping": [("grouping", "Which tasks share a network.", _grouping)],
    "balancing": [("methods", "Balancing methods compared.", _methods)],
    "representation": [("cka", "Shared layer vs single-task models.", _cka),
                       ("stl_cka", "Single-task models vs each other.", _stl_cka)],
}


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def render_stage_figures(stage: str, result: dict[str, Any]) -> dict[str, tuple[str, bytes]]:
    """``{figure name: (caption, PNG bytes)}`` of one finished stage."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    out = {}
    for name, caption, builder in FIGURES.get(stage, []):
        fig = builder(result)
        if fig is not None:
            out[name] = (caption, _png(fig))
    return out


# --------------------------------------------------------------------------- HTML pieces
def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _ok(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def num(value: Any, fmt: str = ".3g", se: Any = None, unit: str = "") -> str:
    """A table cell with the exact number in ``data-value`` (and ``data-se``)."""
    if not _ok(value):
        return '<td class="na" data-value="null">n/a</td>'
    text = f"{value:{fmt}}{unit}" + (f" ± {se:{fmt}}" if _ok(se) else "")
    se_attr = f' data-se="{se!r}"' if _ok(se) else ""
    return f'<td class="num" data-value="{value!r}"{se_attr}>{esc(text)}</td>'


def table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """Rows are lists of ready ``<td>`` cells or plain strings (escaped here)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(c if c.startswith("<td") else f"<td>{esc(c)}</td>"
                                    for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


#: square heatmaps and small bar charts, shown two per row
_HALF_WIDTH = {"alignment", "magnitudes", "gs", "gt", "pair_gains", "stl_cka", "cka",
               "task_gains", "grouping"}


def _figure_html(name: str, caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    size = "half" if name in _HALF_WIDTH else "full"
    return (f'<figure id="fig-{esc(name)}" class="{size}"><img alt="{esc(caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{esc(caption)} '
            f'(<code>figures/{esc(name)}.png</code>)</figcaption></figure>')



def _pm_cell(d: dict[str, Any], unit: str = "%") -> str:
    return num(d.get("mean"), ".1f", d.get("se"), unit)


def _summary(res: dict[str, Any], _: dict[str, Any]) -> str:
    rows = []
    for t in res["tasks"]:
        if t["class_counts"]:
            balance = num(t["smallest_class_fraction"], ".1%", unit=" smallest class")
        else:
            balance = num(t["std"], ".3g", unit=" std")
        rows.append([t["name"], t["kind"] + (" (inferred)" if t["kind_inferred"] else ""),
                     num(t["outputs"], "d"), t["primary_metric"], balance,
                     num(t["rows_dropped"], "d")])
    notes = "".join(f"<li>{esc(n)}</li>" for n in res["notes"])
    missing = ", ".join(f"{k}: {v}" for k, v in res["missing_inputs"].items()) or "none"
    return (table(["task", "kind", "outputs", "primary metric", "balance / spread",
                   "rows dropped (missing target)"], rows, "tasks")
            + f"<p>Missing input values imputed: {esc(missing)}.</p>"
            + (f"<ul class=\"notes\">{notes}</ul>" if notes else ""))


def _theory(res: dict[str, Any], _: dict[str, Any]) -> str:
    names = res["task_names"]
    rows = [[t, num(res["half_times"][t], ".3g"), num(res["learning_rank"][t], "d")]
            for t in names]
    spec = ", ".join(f"{v:.3g}" for v in res["spectrum"][:10])
    pairs = [[k.replace("|", " – "), res["regimes"][names.index(k.split("|")[0])][
        names.index(k.split("|")[1])], ", ".join(f"{v:.2f}" for v in vals[:6])]
        for k, vals in res["overlaps"].items()]
    return (table(["task", "predicted half-time t½", "learning rank"], rows, "order")
            + f"<p>Shared spectrum S<sub>ξ</sub> (rank {res['spectrum_rank']}): {esc(spec)}. "
            f"Time unit: {esc(res['time_unit'])}.</p>"
            + "<details><summary>overlap singular values per pair</summary>"
            + table(["pair", "regime", "overlap singular values"], pairs) + "</details>")


def _multitask(res: dict[str, Any], _: dict[str, Any]) -> str:
    names = res["task_names"]
    metric_rows = [[t, m, num(v, ".4g")] for t in names
                   for m, v in res["test_metrics"][t].items()]
    pairs = sorted(res["mean_cosine"].items(), key=lambda kv: (kv[1] is None, kv[1] or 0))
    cos_rows = [[k.replace("|", " ↔ "), num(v, "+.3f")] for k, v in pairs]
    th = res.get("theory")
    order = ""
    if th is not None:
        order = (f"<p>Predicted order: {esc(' → '.join(th['predicted_order']))}; observed "
                 f"(step where the smoothed loss made half its drop): "
                 f"{esc(' → '.join(th['observed_order']))}. Theory time × "
                 f"{th['scale_steps_per_time']:.3g} = steps.</p>")
    return (order + f"<p>EW, seed {res['seed']}; cosines every {res['monitor_every']} "
            f"step(s); conflict fraction "
            + (f"{res['conflict_fraction']:.1%}" if res["conflict_fraction"] is not None
               else "n/a") + ".</p>"
            + table(["pair", "mean gradient cosine"], cos_rows, "cosines")
            + "<details><summary>test metrics of this model</summary>"
            + table(["task", "metric", "test value"], metric_rows) + "</details>")


def _baselines(res: dict[str, Any], _: dict[str, Any]) -> str:
    rows = [[t, res["primary_metric"][t], num(g["stl_mean"], ".4g"), num(g["all_mean"], ".4g"),
             _pm_cell(g)] for t, g in res["per_task_gain"].items()]
    dm = res["delta_m"]
    return (f'<p class="headline">Δm = <span class="dm" data-value="{dm["mean"]!r}">'
            f'{esc(_pm_text(dm["mean"], dm["se"]))}</span> over seeds {esc(res["seeds"])}.</p>'
            + table(["task", "primary metric", "single-task (mean)", "all tasks (mean)",
                     "gain ± SE"], rows, "gains"))


def _pm_text(mean: Any, se: Any) -> str:
    if not _ok(mean):
        return "n/a"
    return f"{mean:+.1f}%" + (f" ± {se:.1f}" if _ok(se) else " (one seed, no SE)")


def _grouping_html(res: dict[str, Any], _: dict[str, Any]) -> str:
    rows = [[f"network {i + 1}", ", ".join(g)] for i, g in enumerate(res["groups"])]
    ref = res["reference_totals"]
    extra = []
    if res["predicted_total"] is not None:
        extra.append(["predicted total (chosen networks)", num(res["predicted_total"], ".3f")])
    if res.get("best_measured"):
        extra.append(["best among measured networks", num(res["best_measured"]["total"], ".3f")])
    extra += [["one network for all (measured)", num(ref["one_network"], ".3f")],
              ["separate networks (measured)", num(ref["separate_networks"], ".3f")]]
    return (f"<p>Method: {esc(res['method'])}. Loss unit: {esc(res['loss_unit'])}.</p>"
            + table(["network", "tasks"], rows, "groups")
            + table(["total relative loss", "value"], extra, "totals"))


def _balancing(res: dict[str, Any], _: dict[str, Any]) -> str:
    tasks = list(next(iter(res["table"].values()))["per_task"])
    rows = [[m, num(v["delta_m"], "+.2f", v["delta_m_se"], "%")]
            + [num(v["per_task"][t], "+.1f", unit="%") for t in tasks]
            for m, v in res["table"].items()]
    rec = res["recommendation"]
    ev = "".join(f"<li>{esc(e)}</li>" for e in rec["evidence"])
    return (f'<p class="hypothesis">Hypothesis (not a fact): {esc(rec["hypothesis"])}</p>'
            f"<p>Evidence:</p><ul>{ev}</ul><p>Compared on: {esc(res['network'])}; the "
            f"checkpoint <code>model.pt</code> is the {esc(rec['method'])} model.</p>"
            + table(["method", "Δm ± SE"] + [f"{t} (%)" for t in tasks], rows, "methods"))


def _representation(res: dict[str, Any], _: dict[str, Any]) -> str:
    rows = [[t, num(res["cka"][t], ".3f"), num(res["rsa"][t], ".3f")]
            for t in res["task_names"]]
    return (f"<p>Layer: {esc(res['layer'])}; {res['probe_size']} test samples.</p>"
            + table(["task", "CKA", "RSA (Spearman)"], rows, "similarity"))


EVIDENCE: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {
    "summary": _summary, "theory": _theory, "multitask": _multitask, "baselines": _baselines,
    "grouping": _grouping_html, "balancing": _balancing, "representation": _representation,
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:0 auto;padding:1.5em;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:2em}.meta{color:#555;font-size:.9em}
.finding{background:#eef5fb;border-left:4px solid #0072B2;padding:.6em .9em;font-size:1.05em}
.status-skipped .finding,.status-failed .finding,.status-missing .finding{background:#fff4e5;
border-left-color:#D55E00}.hypothesis{font-weight:600}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ddd;
padding:.25em .6em;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.na{color:#999}.figures{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figure.half{flex:0 1 500px}figure.half img{width:100%}figcaption{font-size:.85em;
color:#555;max-width:500px}nav ol{columns:2;font-size:.95em}
.badge{font-size:.75em;padding:.1em .5em;
border-radius:.8em;background:#e0e0e0;margin-left:.4em}.badge.done{background:#d4edda}
.badge.skipped,.badge.failed,.badge.missing{background:#fde2cf}details{margin:.5em 0}
.warn{background:#fff4e5;padding:.6em .9em;border-left:4px solid #D55E00}
"""


def _settings_table(settings: dict[str, Any]) -> str:
    return table(["setting", "value"], [[k, str(v)] for k, v in settings.items()], "settings")


def _stage_settings(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The run settings this stage's result depends on (``Stage.reads``)."""
    from ..analysis.run import STAGES

    reads = next((s.reads for s in STAGES if s.name == name), ())
    return {k: settings[k] for k in reads if k in settings}


def _section(i: int, name: str, entry: dict[str, Any], evidence: str,
             settings: dict[str, Any]) -> str:
    status = entry["status"]
    if status == "done":
        finding = "<br>".join(esc(line) for line in entry["finding"])
    else:
        finding = f"Stage {esc(status)}: {esc(entry['reason'])}"
    secs = entry.get("seconds")
    timing = f"{secs:.1f} s" if _ok(secs) else "not run"
    res = entry.get("result") or {}
    own = {**_stage_settings(name, settings),
           **(res.get("settings") if isinstance(res.get("settings"), dict) else {})}
    details = (f"<details><summary>time and settings of this stage</summary><p>Time: "
               f'<span class="time">{esc(timing)}</span>.</p>'
               + (_settings_table(own) if own else "") + "</details>")
    return (f'<section id="stage-{esc(name)}" class="stage status-{esc(status)}" '
            f'data-status="{esc(status)}"><h2>{i}. {esc(entry["title"])}'
            f'<span class="badge {esc(status)}">{esc(status)}</span></h2>'
            f'<p class="finding">{finding}</p>{evidence}{details}</section>')


def page(results: dict[str, Any], sections: list[tuple[int, str, dict[str, Any], str]]) -> str:
    """The whole page from the results and the rendered sections."""
    data, st, run = results["data"], results["settings"], results["run"]
    nav = "".join(f'<li><a href="#stage-{esc(n)}">{esc(e["title"])}</a>'
                  f'<span class="badge {esc(e["status"])}">{esc(e["status"])}</span></li>'
                  for _, n, e, _ in sections)
    not_done = [(e["title"], e["status"], e["reason"]) for _, _, e, _ in sections
                if e["status"] != "done"]
    warn = ""
    if not_done:
        items = "".join(f"<li>{esc(t)} — {esc(s)}: {esc(r)}</li>" for t, s, r in not_done)
        warn = f'<div class="warn" id="not-done"><p>Stages not done:</p><ul>{items}</ul></div>'
    total = run.get("total_seconds")
    reused = ", ".join(run.get("reused", [])) or "none"
    seeds = list(range(st["seed"], st["seed"] + st["n_seeds"]))
    summary = results["stages"]["summary"].get("result") or {}
    epochs = summary.get("epochs_per_training", st["epochs"])
    steps = summary.get("steps_per_training")  # absent in results of older versions
    per_training = (f"{steps:,} steps ({epochs:.3g} epochs)" if isinstance(steps, int)
                    else f"{epochs} epochs")
    body = "".join(_section(*s, st) for s in sections)
    ckpt = results.get("checkpoint")
    ckpt_html = (f"<p>Checkpoint: <code>model.pt</code> ({esc(ckpt['method'])}, tasks "
                 f"{esc(', '.join(ckpt['tasks']))}); rebuild with "
                 f"<code>{esc(ckpt['builder'])}(**builder_kwargs)</code> from "
                 "<code>model.json</code>.</p>" if ckpt else "")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tasklens analysis: {esc(data['name'])}</title><style>{_CSS}</style></head>"
        f"<body><header><h1>tasklens analysis: {esc(data['name'])}</h1>"
        f'<p class="meta">Data <code>{esc(data["source"])}</code> ({data["n_samples"]:,} rows,'
        f" tasks {esc(', '.join(data['tasks']))}); "
        + (f"models: {esc(data['models'])}; " if data.get("models") else "")
        + "fingerprint "
        f'<code class="fingerprint">{esc(data["fingerprint"])}</code>; tasklens '
        f"{esc(results['tasklens_version'])}; results schema "
        f"{esc(results['schema_version'])}.<br>Budget <b>{esc(st['budget'])}</b>, seeds "
        f"{esc(seeds)}, {per_training} per training; total time "
        f"{(f'{total:.0f} s' if _ok(total) else 'n/a')}; reused from cache: {esc(reused)}."
        f"</p></header><nav><ol>{nav}</ol></nav>{warn}{body}"
        f"<footer><h2>Settings of the run</h2>{_settings_table(st)}{ckpt_html}"
        "<p class=\"meta\">Every number shown is in <code>results.json</code>; figures are "
        "also in <code>figures/</code>.</p></footer></body></html>")


# --------------------------------------------------------------------------- writing
class ReportWriter:
    """Writes results.json, the figures and report.html into ``out_dir``; call it with the
    current results after every stage (figures of unchanged stages are not redrawn)."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self._figures: dict[str, tuple[str, dict[str, tuple[str, bytes]]]] = {}

    def figures(self, results: dict[str, Any]) -> dict[str, dict[str, tuple[str, bytes]]]:
        out = {}
        for name, entry in results["stages"].items():
            if entry["status"] != "done":
                continue
            stamp = repr(entry.get("seconds")) + str(len(repr(entry["result"])))
            cached = self._figures.get(name)
            if cached is None or cached[0] != stamp:
                figs = render_stage_figures(name, entry["result"])
                for fig_name, (_, png) in figs.items():
                    with atomic_write(self.out_dir / "figures" / f"{fig_name}.png", "wb") as fh:
                        fh.write(png)
                self._figures[name] = (stamp, figs)
            out[name] = self._figures[name][1]
        return out

    def __call__(self, results: dict[str, Any]) -> Path:
        from ..analysis import write_results

        write_results(results, self.out_dir)
        figures = self.figures(results)
        # figures of an earlier run in the same folder that this run does not (yet) have
        current = {name for figs in figures.values() for name in figs}
        known = {name for specs in FIGURES.values() for name, _, _ in specs}
        for stale in known - current:
            (self.out_dir / "figures" / f"{stale}.png").unlink(missing_ok=True)
        return write_report(results, self.out_dir, figures=figures)


def build_html(results: dict[str, Any],
               figures: dict[str, dict[str, tuple[str, bytes]]]) -> str:
    """The report page as one string (no external resources, no script)."""
    sections = []
    for i, (name, entry) in enumerate(results["stages"].items(), start=1):
        evidence = ""
        if entry["status"] == "done":
            figs = "".join(_figure_html(n, c, p) for n, (c, p) in figures.get(name, {}).items())
            evidence = EVIDENCE[name](entry["result"], results) + (
                f'<div class="figures">{figs}</div>' if figs else "")
        sections.append((i, name, entry, evidence))
    return page(results, sections)


def write_report(results: dict[str, Any], out_dir: str | Path, *,
                 figures: dict[str, dict[str, tuple[str, bytes]]] | None = None) -> Path:
    """Write ``report.html`` (atomically) from the content of results.json."""
    if figures is None:
        figures = {n: render_stage_figures(n, e["result"])
                   for n, e in results["stages"].items() if e["status"] == "done"}
    path = Path(out_dir) / "report.html"
    with atomic_write(path) as handle:
        handle.write(build_html(results, figures))
    return path


def run_and_report(data: Any, settings: Any, out_dir: str | Path, **kwargs: Any
                   ) -> dict[str, Any]:
    """:func:`tasklens.analysis.run_analysis` with results.json, figures and report.html
    rewritten after every stage (what ``tasklens analyze`` runs)."""
    from ..analysis import run_analysis

    writer = ReportWriter(out_dir)
    user_end = kwargs.pop("on_stage_end", None)

    def on_end(results: dict[str, Any]) -> None:
        writer(results)
        if user_end is not None:
            user_end(results)

    return run_analysis(data, settings, out_dir, on_stage_end=on_end, **kwargs)
