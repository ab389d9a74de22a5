"""Task-affinity scores (002_449c5bd29af54bab.txt, Table 7) and their evaluation.

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
from .taxonomy import TABLE1_NEWICK, taxonomical_distance, tree_distances

__all__ = [
    "ALIGNMENT_SCORES",
    "LOOKAHEAD_RULES",
    "REPRESENTATION_METHODS",
    "TABLE1_NEWICK",
    "Attribution",
    "GradientSimilarityMonitor",
    "GradientTransferenceMonitor",
    "LabelInjectionResult",
    "alignment_affinity",
    "backbone_features",
    "captum_attribution",
    "encode_label",
    "evaluate_task_loss",
    "gradient_similarity",
    "gradient_transference",
    "inject_label",
    "input_attribution_similarity",
    "input_x_gradient",
    "label_injected_taskset",
    "label_injection",
    "label_injection_experiment",
    "representation_similarity",
    "representation_similarity_from_features",
    "spectrum_gain",
    "taxonomical_distance",
    "train_label_injected",
    "tree_distances",
]
