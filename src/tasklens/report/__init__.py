"""Figures (matplotlib) and reports. Computation lives elsewhere; this package only draws."""

from .figures import plot_taskset_overview, save_figure

__all__ = ["plot_taskset_overview", "save_figure"]
