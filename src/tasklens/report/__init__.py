"""Figures (matplotlib) and reports. Computation lives elsewhere; this package only draws."""

from .affinity_figures import (
    plot_gain_matrix,
    plot_score_matrices,
    plot_score_vs_gain,
    plot_task_matrix,
)
from .figures import plot_taskset_overview, save_figure
from .linear_figures import plot_alignment, plot_predicted_losses
from .paper000_figures import plot_figure3, plot_figure4, plot_figure5, plot_figure6
from .representation_figures import embed_codes, plot_code_embedding, plot_latent_traversals

__all__ = [
    "embed_codes",
    "plot_alignment",
    "plot_code_embedding",
    "plot_figure3",
    "plot_figure4",
    "plot_figure5",
    "plot_figure6",
    "plot_gain_matrix",
    "plot_latent_traversals",
    "plot_predicted_losses",
    "plot_score_matrices",
    "plot_score_vs_gain",
    "plot_task_matrix",
    "plot_taskset_overview",
    "save_figure",
]
