"""Task grouping: which tasks should share a network (Standley et al. 2020; Fifty et al. 2021)."""

from .approximation import candidates_from_losses, higher_order_approximation
from .from_data import group_tasks_from_data
from .selection import Candidate, Selection, select_networks
from .tag import group_scores, select_groups_from_affinity

__all__ = [
    "Candidate",
    "Selection",
    "candidates_from_losses",
    "group_scores",
    "group_tasks_from_data",
    "higher_order_approximation",
    "select_groups_from_affinity",
    "select_networks",
]
