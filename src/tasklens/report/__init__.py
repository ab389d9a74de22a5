"""Figures (matplotlib) and reports. Computation lives elsewhere; this package only draws."""

from .figures import plot_taskset_overview, save_figure
from .linear_figures import plot_alignment, plot_predicted_losses

__all__ = ["plot_alignment", "plot_predicted_losses", "plot_taskset_overview", "save_figure"]
