"""Exact learning dynamics of deep linear multi-task networks (Anon. 2025 (ICLR'26 sub.)).

From data to predictions without training: input–output correlations per task (eq. 6),
alignment of tasks (overlap singular values, eq. 8; Definition 2.1), magnitude ratios
(eq. 11), the shared spectrum S_ξ (eq. 9/10), the tabula-rasa per-mode solution and task
loadings (App. B.3–B.6), convergence representations (Section 5) and learning-order
metrics (Section 4); the closed-form Riccati dynamics of QQᵀ(t) for any number of tasks
(Theorem 2, with an exact semigroup fallback and an ODE path for unbalanced inits), the
steady state (Theorem 3), and reference simulators (gradient flow, full-batch GD).
"""

from .alignment import (
    RANK_RTOL,
    REGIME_TOL,
    REGIMES,
    AlignmentRegime,
    PairwiseAlignment,
    RankFacts,
    SharedSpectrum,
    alignment_regime,
    classify_overlaps,
    magnitude_ratios,
    overlap_singular_values,
    pairwise_alignment,
    rank_facts,
    right_modes,
    shared_spectrum,
    stack_sigmas,
    task_rank,
)
from .dynamics import MTLDynamics, check_mtl_problem, zero_balanced_init
from .lambda_balanced import (
    LAMBDA_TOL,
    LambdaBalancedSolution,
    lambda_balanced_init,
    lambda_of,
)
from .learning_order import LearningOrder, learning_order, rise_time, time_to_fraction
from .representations import ConvergenceRSMs, convergence_rsms
from .simulate import (
    DivergenceError,
    GradientFlowResult,
    TrainingResult,
    gradient_flow,
    stable_learning_rate,
    train_linear_mtl,
)
from .statistics import (
    WHITENING_METHODS,
    TaskCorrelations,
    as_sigma_dict,
    check_sigma,
    encode_targets,
    one_hot,
    task_correlations,
    whitening_from_correlation,
    whitening_transform,
)
from .streaming import Moments, accumulate_moments, streaming_task_correlations
from .tabula_rasa import (
    TabulaRasaSolution,
    TaskLoadings,
    mode_learning_time,
    mode_strength,
    tabula_rasa_solution,
    task_loadings,
)

__all__ = [
    "LAMBDA_TOL",
    "RANK_RTOL",
    "REGIMES",
    "REGIME_TOL",
    "WHITENING_METHODS",
    "AlignmentRegime",
    "ConvergenceRSMs",
    "DivergenceError",
    "GradientFlowResult",
    "LambdaBalancedSolution",
    "LearningOrder",
    "MTLDynamics",
    "Moments",
    "PairwiseAlignment",
    "RankFacts",
    "SharedSpectrum",
    "TabulaRasaSolution",
    "TaskCorrelations",
    "TaskLoadings",
    "TrainingResult",
    "accumulate_moments",
    "alignment_regime",
    "as_sigma_dict",
    "check_mtl_problem",
    "check_sigma",
    "classify_overlaps",
    "convergence_rsms",
    "encode_targets",
    "gradient_flow",
    "lambda_balanced_init",
    "lambda_of",
    "learning_order",
    "magnitude_ratios",
    "mode_learning_time",
    "mode_strength",
    "one_hot",
    "overlap_singular_values",
    "pairwise_alignment",
    "rank_facts",
    "right_modes",
    "rise_time",
    "shared_spectrum",
    "stable_learning_rate",
    "stack_sigmas",
    "streaming_task_correlations",
    "tabula_rasa_solution",
    "task_correlations",
    "task_loadings",
    "task_rank",
    "time_to_fraction",
    "train_linear_mtl",
    "whitening_from_correlation",
    "whitening_transform",
    "zero_balanced_init",
]
