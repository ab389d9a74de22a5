"""Figures (matplotlib) and reports. Computation lives elsewhere; this package only draws."""

from .affinity_figures import (
    plot_gain_matrix,
    plot_score_matrices,
    plot_score_vs_gain,
    plot_task_matrix,
)
from .comparison_figures import plot_cka_per_task, plot_method_comparison, plot_task_gains
from .data_figures import class_balance_inputs, plot_class_balance
from .figures import plot_taskset_overview, save_figure
from .linear_figures import plot_alignment, plot_predicted_losses
from .matrix_figures import plot_grouping, plot_matrix
from .representation_figures import embed_codes, plot_code_embedding, plot_latent_traversals
from .training_figures import plot_gradient_cosine, plot_loss_curves

__all__ = [
    "class_balance_inputs",
    "embed_codes",
    "plot_alignment",
    "plot_cka_per_task",
    "plot_class_balance",
    "plot_code_embedding",
    "plot_gain_matrix",
    "plot_gradient_cosine",
    "plot_grouping",
    "plot_latent_traversals",
    "plot_loss_curves",
    "plot_matrix",
    "plot_method_comparison",
    "plot_predicted_losses",
    "plot_score_matrices",
    "plot_score_vs_gain",
    "plot_task_gains",
    "plot_task_matrix",
    "plot_taskset_overview",
    "save_figure",
]
