"""Stages 5–7: grouping, balancing-method comparison, representation similarity."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .context import StageContext, StageSkipped
from .executor import TrainJob, run_trainings
from .settings import CORE_MTL, core_mtl_enabled
from .stages_train import _delta_m
from .training import load_model, mean_se, relative_gain


def _ok(value: Any) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def pm(mean: Any, se: Any, fmt: str = "+.1f", unit: str = "") -> str:
    """``"+1.2% ± 0.3"`` (the ± part only when the standard error is known)."""
    if not _ok(mean):
        return "n/a"
    text = f"{mean:{fmt}}{unit}"
    return text + (f" ± {se:.1f}" if _ok(se) else " (one seed: no SE)")


# --------------------------------------------------------------------------- stage 5
def _budget(ctx: StageContext) -> int:
    k = len(ctx.task_names)
    b = ctx.settings.max_networks or min(2, k)
    return min(b, k)


def grouping_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage 5: networks under ``max_networks`` — measured pairs (Standley et al.) or TAG."""
    base = ctx.need("baselines")
    names = ctx.task_names
    budget = _budget(ctx)
    seeds = [str(s) for s in base["seeds"]]
    # losses relative to single-task (1 = as good as alone): comparable across task kinds
    alone = {t: mean_se([base["stl_metrics"][s][t]["loss"] for s in seeds])[0] for t in names}
    all_rel = {t: mean_se([base["all_metrics"][s][t]["loss"] for s in seeds])[0] / alone[t]
               for t in names}
    reference = {"separate_networks": float(len(names)),
                 "one_network": float(sum(all_rel.values()))}
    if base["pairs"] is not None:
        out = _select_measured(names, alone, all_rel, base["pairs"]["losses"], budget)
    else:
        out = _select_tag(ctx, names, budget)
    out.update({"budget": budget, "reference_totals": reference,
                "relative_loss_all": all_rel, "loss_unit": "test loss / single-task test loss"})
    return out


def _select_measured(names: list[str], alone: dict[str, float], all_rel: dict[str, float],
                     pair_losses: dict[str, dict[str, float]], budget: int) -> dict[str, Any]:
    from ..grouping import Candidate, higher_order_approximation, select_networks

    singles = {t: 1.0 for t in names}
    pairs: dict[tuple[str, str], float] = {}
    for key, losses in pair_losses.items():
        a, b = key.split("+")
        pairs[(a, b)] = losses[a] / alone[a]
        pairs[(b, a)] = losses[b] / alone[b]
    cands = higher_order_approximation(singles, pairs, tasks=names)
    full = frozenset(names)
    cands = [c for c in cands if c.tasks != full] + [Candidate(full, all_rel)]
    chosen = select_networks(cands, float(budget), tasks=names)
    measured = [c for c in cands if len(c.tasks) <= 2 or c.tasks == full]
    best = select_networks(measured, float(budget), tasks=names)
    return {
        "method": "select_networks on measured pairs (higher-order approximation of "
                  "larger groups, Standley et al. 2020)",
        "groups": [sorted(c.tasks, key=names.index) for c in chosen.candidates],
        "assignment": {t: chosen.assignment[t].label for t in names},
        "predicted_total": chosen.total_loss,
        "best_measured": {"groups": [sorted(c.tasks, key=names.index)
                                     for c in best.candidates], "total": best.total_loss},
        "tag_scores": None,
    }


def _select_tag(ctx: StageContext, names: list[str], budget: int) -> dict[str, Any]:
    from ..data.matrix import TaskMatrix
    from ..grouping import group_scores, select_groups_from_affinity

    gt = np.asarray(ctx.need("multitask")["gt"], dtype=float)
    matrix = TaskMatrix(np.nan_to_num(gt), tuple(names), "gradient transference")
    chosen = select_groups_from_affinity(matrix, budget)
    groups = [sorted(c.tasks, key=names.index) for c in chosen.candidates]
    scores = {t: group_scores(matrix, chosen.assignment[t].tasks)[t] for t in names}
    return {
        "method": "TAG on gradient transference (Fifty et al. 2021); pairs not measured "
                  "at this budget",
        "groups": groups, "assignment": {t: chosen.assignment[t].label for t in names},
        "predicted_total": None, "best_measured": None,
        "tag_scores": scores, "tag_total_score": -chosen.total_loss,
    }


def grouping_finding(res: dict[str, Any]) -> list[str]:
    groups = " | ".join("{" + ", ".join(g) + "}" for g in res["groups"])
    first = f"With at most {res['budget']} network(s), share: {groups}."
    ref = res["reference_totals"]
    if res["predicted_total"] is not None:
        second = (f"Predicted total relative loss {res['predicted_total']:.2f} vs "
                  f"{ref['one_network']:.2f} for one network and {ref['separate_networks']:.0f}"
                  f" for separate ones (lower is better; pairs measured).")
    else:
        second = (f"Grouped by gradient transference (TAG; pairs are not trained at this "
                  f"budget). Measured relative loss: one network {ref['one_network']:.2f}, "
                  f"separate networks {ref['separate_networks']:.0f} (lower is better).")
    return [first, second]


# --------------------------------------------------------------------------- stage 6
def balancing_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage 6: every method on the all-task network, Δm ± SE over seeds vs single-task;
    on image inputs also CORE-MTL's dual-stream model (``settings.core_mtl``)."""
    st, names = ctx.settings, ctx.task_names
    base, mtl = ctx.need("baselines"), ctx.need("multitask")
    primary, hib = base["primary_metric"], base["higher_is_better"]
    per_method: dict[str, dict[str, Any]] = {"ew": base["all_metrics"]}
    methods = list(st.methods)
    if core_mtl_enabled(st, ctx.split.train.input_shape, ctx.split.train.info):
        methods.append(CORE_MTL)  # a model trained under EW, compared like a method
    jobs = [TrainJob(tuple(names), s, m, f"all_{m}_seed{s}.pt" if s == st.seed else None)
            for m in methods if m != "ew" for s in st.seeds]
    for job, metrics in (run_trainings(ctx, "balancing", jobs) if jobs else {}).items():
        per_method.setdefault(job.method, {})[str(job.seed)] = metrics
    table: dict[str, Any] = {}
    for method in methods:
        runs = per_method[method]
        dms = [_delta_m(runs[s], base["stl_metrics"][s], primary) for s in runs]
        m, se = mean_se(dms)
        per_task = {t: mean_se([relative_gain(runs[s][t][primary[t]],
                                              base["stl_metrics"][s][t][primary[t]], hib[t])
                                for s in runs])[0] for t in names}
        table[method] = {"delta_m": m, "delta_m_se": se, "per_seed": dms, "per_task": per_task,
                         "metrics": runs}
    rec = _recommend(table, mtl, ctx)
    return {"methods": methods, "network": "all tasks in one network",
            "table": table, "recommendation": rec}


def _recommend(table: dict[str, Any], mtl: dict[str, Any], ctx: StageContext
               ) -> dict[str, Any]:
    """The best Δm as a hypothesis; EW unless another method beats it by > 2 SE."""
    scored = {m: v for m, v in table.items() if _ok(v["delta_m"])}
    if not scored:
        return {"method": "ew", "hypothesis": "no method produced a finite Δm; keep EW",
                "evidence": [],
                "checkpoint_source": f"all_ew_seed{ctx.settings.seed}.pt"}
    best = max(scored, key=lambda m: scored[m]["delta_m"])
    ew = table["ew"]
    diff = scored[best]["delta_m"] - (ew["delta_m"] if _ok(ew["delta_m"]) else 0.0)
    ses = [scored[best]["delta_m_se"], ew["delta_m_se"]]
    se = math.sqrt(sum(s**2 for s in ses)) if all(_ok(s) for s in ses) else math.nan
    conflict = mtl.get("conflict_fraction")
    shown = ", ".join(f"{m} {pm(v['delta_m'], v['delta_m_se'], unit='%')}"
                      for m, v in table.items())
    evidence = [f"Δm: {shown}"]
    if conflict is not None:
        evidence.append(f"gradient conflicts in {conflict:.0%} of recorded pair-steps "
                        "during the EW training")
    first = {t: v[0] for t, v in mtl["losses"].items() if v}
    if first:
        ratio = max(first.values()) / max(min(first.values()), 1e-12)
        evidence.append(f"initial task losses differ by a factor {ratio:.1f}")
    significant = best != "ew" and _ok(se) and diff > 2 * se
    if significant:
        hyp = (f"{best} may help here: its Δm exceeds EW's by {diff:.1f} points (> 2 SE = "
               f"{2 * se:.1f}); a hypothesis to confirm with more seeds, not a fact.")
        method = best
    else:
        why = ("tasks mostly aligned" if conflict is not None and conflict < 0.3
               else "no method beat it beyond 2 standard errors")
        hyp = (f"Equal weighting likely suffices ({why}): the best method ({best}) differs from"
               f" EW by {diff:+.1f} points" + (f", within 2 SE = {2 * se:.1f}." if _ok(se)
                                               else " with too few seeds for an SE."))
        method = "ew"
    return {"method": method, "best_measured": best, "difference": diff,
            "difference_se": se if _ok(se) else None, "significant": bool(significant),
            "hypothesis": hyp, "evidence": evidence,
            "checkpoint_source": f"all_{method}_seed{ctx.settings.seed}.pt"}


def balancing_finding(res: dict[str, Any]) -> list[str]:
    rec = res["recommendation"]
    best = rec.get("best_measured", rec["method"])
    row = res["table"].get(best, {})
    return [f"Best Δm: {best} at {pm(row.get('delta_m'), row.get('delta_m_se'), unit='%')} "
            f"over {len(res['methods'])} methods on the all-task network.",
            f"Hypothesis: {rec['hypothesis']}"]


# --------------------------------------------------------------------------- stage 7
def representation_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage 7: CKA and RSA between the multi-task shared layer and each single-task model."""
    import torch

    from ..represent import linear_cka, rsa

    st, names, split = ctx.settings, ctx.task_names, ctx.split
    ctx.need("baselines")
    ctx.need("multitask")
    paths = {t: ctx.model_dir / f"stl_{t}_seed{st.seed}.pt" for t in names}
    mtl_path = ctx.model_dir / f"all_ew_seed{st.seed}.pt"
    missing = [p.name for p in [mtl_path, *paths.values()] if not p.is_file()]
    if missing:
        raise StageSkipped(f"saved model weights missing ({', '.join(missing)})")
    n = min(st.probe_size, len(split.test))
    x = torch.from_numpy(np.ascontiguousarray(split.test.inputs[:n]))
    with torch.no_grad():
        z_mtl = load_model(mtl_path, split, names, st, st.seed).encode(x).numpy()
        z = {t: load_model(p, split, [t], st, st.seed).encode(x).numpy()
             for t, p in paths.items()}
    stl_cka = [[linear_cka(z[a], z[b]) for b in names] for a in names]
    # CKA and RSA need every probe row's representation at once: a bounded probe (the
    # first rows of the seeded test split), not the whole test set
    return {"probe_size": n, "test_rows": len(split.test),
            "computed_on": f"computed on {n} of {len(split.test)} test rows",
            "layer": "shared representation z (encoder output)",
            "cka": {t: linear_cka(z_mtl, z[t]) for t in names},
            "rsa": {t: rsa(z_mtl, z[t]) for t in names}, "stl_cka": stl_cka,
            "task_names": names}


def representation_finding(res: dict[str, Any]) -> list[str]:
    cka = res["cka"]
    hi, lo = max(cka, key=cka.get), min(cka, key=cka.get)
    return [f"The shared layer resembles {hi}'s own model most (CKA {cka[hi]:.2f}) and "
            f"{lo}'s least (CKA {cka[lo]:.2f}).",
            "High CKA: the shared code keeps what that task's single model learns; low: the "
            "task is served by a representation shaped by the others."
            + (f" (CKA and RSA {res['computed_on']}.)" if "computed_on" in res else "")]
