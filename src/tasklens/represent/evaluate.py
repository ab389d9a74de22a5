"""All disentanglement metrics of one representation function on one ground-truth source."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._common.validation import check_choice, check_positive_int, check_seed, seed_info
from .information import irs, mig, modularity_explicitness
from .intervention import beta_vae_score, factor_vae_score
from .predictive import dci, sap
from .results import RepresentationEvaluation
from .sources import check_source, sample_codes

DISENTANGLEMENT_METRICS = (
    "mig", "dci", "sap", "modularity_explicitness", "irs", "factor_vae", "beta_vae")


def evaluate_representation(
    representation_fn: Callable[[np.ndarray], Any], source: Any,
    metrics: Sequence[str] = DISENTANGLEMENT_METRICS, seed: int | np.random.Generator | None = 0, *,
    num_train: int = 10_000, num_test: int = 5_000, dci_backend: str = "gbt",
    n_jobs: int | None = None,
) -> RepresentationEvaluation:
    """Score a representation with the chosen metrics at the reference sample sizes.

    One train sample (``num_train`` points) and one test sample (``num_test``) are drawn and
    shared by the array metrics; the intervention metrics draw their own votes
    (``num_train`` / ``num_test`` of them) from the same generator.

    Parameters
    ----------
    representation_fn : callable
        (n, ...) observations → (n, D) codes.
    source : GroundTruthSource
    metrics : sequence of str
        Any of ``DISENTANGLEMENT_METRICS``.
    seed : int, Generator or None
    num_train, num_test : int
        Reference defaults 10,000 and 5,000.
    dci_backend : {"gbt", "hist"}
        See :func:`tasklens.represent.dci`.
    n_jobs : int or None
        Parallel factors in DCI.

    Returns
    -------
    RepresentationEvaluation
        ``scores``: metric name → float (``mig``, ``sap``), the metric's result object, or
        for ``irs`` a dict of ``irs`` and ``num_active_dims``; ``settings``: sizes, seed,
        backend, version. ``to_dict()`` gives ``{metric: ..., "settings": ...}``.
    """
    from .. import __version__

    src = check_source(source)
    for m in metrics:
        check_choice(m, "metric", DISENTANGLEMENT_METRICS)
    num_train = check_positive_int(num_train, "num_train")
    num_test = check_positive_int(num_test, "num_test")
    rng = check_seed(seed)
    settings = {"num_train": num_train, "num_test": num_test, "dci_backend": dci_backend,
                "seed": seed_info(seed), "tasklens": __version__}
    out: dict[str, Any] = {}
    array_metrics = {"mig", "dci", "sap", "modularity_explicitness", "irs"}
    if array_metrics & set(metrics):
        c_tr, f_tr = sample_codes(representation_fn, src, num_train, rng)
        c_te, f_te = sample_codes(representation_fn, src, num_test, rng)
    for m in metrics:
        if m == "mig":
            out[m] = mig(c_tr, f_tr)
        elif m == "dci":
            out[m] = dci(c_tr, f_tr, c_te, f_te, rng, backend=dci_backend, n_jobs=n_jobs)
        elif m == "sap":
            out[m] = sap(c_tr, f_tr, c_te, f_te)
        elif m == "modularity_explicitness":
            out[m] = modularity_explicitness(c_tr, f_tr, c_te, f_te)
        elif m == "irs":
            res = irs(c_tr, f_tr)
            out[m] = {"irs": res.irs, "num_active_dims": res.num_active_dims}
        elif m == "factor_vae":
            out[m] = factor_vae_score(representation_fn, src, rng, num_train=num_train,
                                      num_eval=num_test, num_variance_estimate=num_train)
        else:
            out[m] = beta_vae_score(representation_fn, src, rng, num_train=num_train,
                                    num_eval=num_test)
    return RepresentationEvaluation(scores=out, settings=settings)
