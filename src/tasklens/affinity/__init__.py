"""Task-affinity scores (Azorin et al. 2023, Table 7) and their evaluation.

Every score returns a :class:`tasklens.data.TaskMatrix` where higher means more affinity
and entry [a, b] is the effect of task b onto task a.
"""

from ._lookahead import LOOKAHEAD_RULES
from .alignment import ALIGNMENT_SCORES, alignment_affinity, spectrum_gain
from .attribution import (
    Attribution,
    captum_attribution,
    input_attribution_similarity,
    input_x_gradient,
)
from .compute import AFFINITY_SCORES, AffinityMonitorCallback, AffinityReport, compute_affinities
from .evaluation import NATURAL_ZERO_SCORES, ScoreEvaluation, evaluate_scores
from .gains import (
    GainJob,
    GainSettings,
    GroundTruth,
    SweepError,
    ground_truth_from_results,
    ground_truth_sweep,
    pairwise_gain_jobs,
    run_gain_job,
    train_and_evaluate,
)
from .gradients import (
    GradientSimilarityMonitor,
    GradientTransferenceMonitor,
    gradient_similarity,
    gradient_transference,
)
from .label_injection import (
    LabelInjectionResult,
    encode_label,
    evaluate_task_loss,
    inject_label,
    label_injected_taskset,
    label_injection,
    label_injection_experiment,
    train_label_injected,
)
from .representation import (
    REPRESENTATION_METHODS,
    backbone_features,
    representation_similarity,
    representation_similarity_from_features,
)
from .sweep import BACKENDS, SweepResult, job_id, run_jobs
from .taxonomy import TABLE1_NEWICK, taxonomical_distance, tree_distances

__all__ = [
    "AFFINITY_SCORES",
    "ALIGNMENT_SCORES",
    "BACKENDS",
    "LOOKAHEAD_RULES",
    "NATURAL_ZERO_SCORES",
    "REPRESENTATION_METHODS",
    "TABLE1_NEWICK",
    "AffinityMonitorCallback",
    "AffinityReport",
    "Attribution",
    "GainJob",
    "GainSettings",
    "GradientSimilarityMonitor",
    "GradientTransferenceMonitor",
    "GroundTruth",
    "LabelInjectionResult",
    "ScoreEvaluation",
    "SweepError",
    "SweepResult",
    "alignment_affinity",
    "backbone_features",
    "captum_attribution",
    "compute_affinities",
    "encode_label",
    "evaluate_scores",
    "evaluate_task_loss",
    "gradient_similarity",
    "gradient_transference",
    "ground_truth_from_results",
    "ground_truth_sweep",
    "inject_label",
    "input_attribution_similarity",
    "input_x_gradient",
    "job_id",
    "label_injected_taskset",
    "label_injection",
    "label_injection_experiment",
    "pairwise_gain_jobs",
    "representation_similarity",
    "representation_similarity_from_features",
    "run_gain_job",
    "run_jobs",
    "spectrum_gain",
    "taxonomical_distance",
    "train_and_evaluate",
    "train_label_injected",
    "tree_distances",
]
