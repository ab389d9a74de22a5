"""Representation analysis: disentanglement metrics, CKA, RSM/RSA (Maziarka et al. 2022).

Array metrics take codes ``(N, D)`` and integer-coded factors ``(N, F)``: :func:`mig`,
:func:`dci`, :func:`sap`, :func:`modularity_explicitness`, :func:`irs`. The intervention
metrics :func:`factor_vae_score` and :func:`beta_vae_score` take a representation function
and a ground-truth source (:class:`GridDataSource`); :func:`sample_codes` turns a source into
arrays for the others; :func:`evaluate_representation` runs them all. :func:`linear_cka`,
:func:`rsm`/:func:`rsa` compare representations; :func:`capture_activations` collects
named layers' outputs of any torch model and :func:`layer_cka_matrix` compares them.
Definitions and defaults follow google-research ``disentanglement_lib``; each function's
docstring lists where we deliberately differ.
"""

from .activations import SPATIAL_MODES, LayerCKA, capture_activations, layer_cka_matrix
from .discretize import discrete_entropy, discrete_mutual_info, histogram_discretize
from .evaluate import DISENTANGLEMENT_METRICS, evaluate_representation
from .information import irs, mig, modularity, modularity_explicitness, mutual_info_matrix
from .intervention import beta_vae_score, factor_vae_score
from .predictive import (
    DCI_BACKENDS,
    completeness_score,
    dci,
    dci_importance,
    disentanglement_score,
    sap,
    sap_matrix,
)
from .results import (
    BetaVAEResult,
    DCIResult,
    FactorVAEResult,
    IRSResult,
    ModularityExplicitnessResult,
    RepresentationEvaluation,
)
from .similarity import RetrievedComponents, linear_cka, rdm, retrieved_components, rsa, rsm
from .sources import GridDataSource, GroundTruthSource, linear_code_source, sample_codes

__all__ = [
    "DCI_BACKENDS",
    "DISENTANGLEMENT_METRICS",
    "SPATIAL_MODES",
    "BetaVAEResult",
    "DCIResult",
    "FactorVAEResult",
    "GridDataSource",
    "GroundTruthSource",
    "IRSResult",
    "LayerCKA",
    "ModularityExplicitnessResult",
    "RepresentationEvaluation",
    "RetrievedComponents",
    "beta_vae_score",
    "capture_activations",
    "completeness_score",
    "dci",
    "dci_importance",
    "discrete_entropy",
    "discrete_mutual_info",
    "disentanglement_score",
    "evaluate_representation",
    "factor_vae_score",
    "histogram_discretize",
    "irs",
    "layer_cka_matrix",
    "linear_cka",
    "linear_code_source",
    "mig",
    "modularity",
    "modularity_explicitness",
    "mutual_info_matrix",
    "rdm",
    "retrieved_components",
    "rsa",
    "rsm",
    "sample_codes",
    "sap",
    "sap_matrix",
]
