"""Task-affinity scores (002_449c5bd29af54bab.txt) and their evaluation."""

from .taxonomy import TABLE1_NEWICK, taxonomical_distance, tree_distances

__all__ = ["TABLE1_NEWICK", "taxonomical_distance", "tree_distances"]
