"""Taxonomical distance (TD): negated path length between tasks in a task tree
(Azorin et al. 2023, Table 7 row 1; values of Table 1)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..data.matrix import TaskMatrix

# A tree is a nested mapping {child: subtree or None} (unit edges), a sequence of subtrees,
# or a Newick string (optional branch lengths, default 1).
Tree = str | Mapping[str, Any] | Sequence[Any]

#: A tree consistent with Azorin et al. 2023 Table 1 (it satisfies the four-point condition
#: exactly); the
#: branch lengths are reconstructed from the table, rooted at the node where SemSeg joins.
TABLE1_NEWICK = "((Keypts:3,Edges:1):3,SemSeg:2,(Depth:4,Normal:1):2);"


def _parse_newick(text: str) -> tuple[dict[str, list[tuple[str, float]]], list[str]]:
    """Parse Newick into an adjacency list; returns (edges, leaf names)."""
    src = text.strip()
    if not src.endswith(";"):
        raise ValueError("a Newick tree must end with ';'")
    tokens = re.findall(r"\(|\)|,|:|;|[^(),:;]+", src)
    edges: dict[str, list[tuple[str, float]]] = {}
    leaves: list[str] = []
    counter = [0]
    pos = [0]

    def peek() -> str:
        return tokens[pos[0]] if pos[0] < len(tokens) else ";"

    def take() -> str:
        tok = peek()
        pos[0] += 1
        return tok

    def node() -> str:
        children: list[tuple[str, float]] = []
        if peek() == "(":
            take()
            while True:
                child = node()
                length = 1.0
                if peek() == ":":
                    take()
                    raw = take().strip()
                    try:
                        length = float(raw)
                    except ValueError:
                        raise ValueError(f"bad Newick branch length {raw!r}") from None
                    if length < 0:
                        raise ValueError(f"negative Newick branch length {length}")
                children.append((child, length))
                sep = take()
                if sep == ")":
                    break
                if sep != ",":
                    raise ValueError(f"malformed Newick near token {sep!r}")
        label = ""
        if peek() not in ("(", ")", ",", ":", ";"):
            label = take().strip()
        if not children:
            if not label:
                raise ValueError("a Newick leaf has no name")
            if label in edges:
                raise ValueError(f"task {label!r} appears twice in the tree")
            leaves.append(label)
            name = label
        else:
            counter[0] += 1
            name = f"\x00internal{counter[0]}"
        edges.setdefault(name, [])
        for child, length in children:
            edges[name].append((child, length))
            edges[child].append((name, length))
        return name

    node()
    if peek() == ":":  # a root branch length is allowed and ignored
        take()
        take()
    if take() != ";":
        raise ValueError("malformed Newick: unexpected text after the tree")
    return edges, leaves


def _nested_to_edges(tree: Any) -> tuple[dict[str, list[tuple[str, float]]], list[str]]:
    edges: dict[str, list[tuple[str, float]]] = {}
    leaves: list[str] = []
    counter = [0]

    def add(sub: Any, label: str | None = None) -> str:
        if isinstance(sub, str):
            sub_children: list[tuple[str | None, Any]] = []
            label = sub
        elif sub is None:
            sub_children = []
        elif isinstance(sub, Mapping):
            sub_children = list(sub.items())
        elif isinstance(sub, Sequence):
            sub_children = [(None, s) for s in sub]
        else:
            raise TypeError(f"tree nodes must be mappings, sequences, strings or None, "
                            f"got {type(sub).__name__}")
        if not sub_children:
            if not label:
                raise ValueError("a leaf of the tree has no name")
            if label in edges:
                raise ValueError(f"task {label!r} appears twice in the tree")
            leaves.append(label)
            edges[label] = []
            return label
        counter[0] += 1
        name = f"\x00internal{counter[0]}" if label is None else f"\x00{label}"
        edges[name] = []
        for child_label, child in sub_children:
            child_name = add(child, child_label)
            edges[name].append((child_name, 1.0))
            edges[child_name].append((name, 1.0))
        return name

    add(tree)
    return edges, leaves


def tree_distances(tree: Tree) -> TaskMatrix:
    """Path length between every pair of leaves of ``tree``.

    Parameters
    ----------
    tree : str, mapping or sequence
        Newick (``"((a:1,b:2):1,c);"``; lengths default to 1), or a nested mapping
        ``{"vision": {"edges": None, "keypts": None}, "depth": None}`` / nested lists, whose
        edges have unit length. Internal node names in a mapping are labels only.
    """
    if isinstance(tree, str):
        edges, leaves = _parse_newick(tree)
    else:
        edges, leaves = _nested_to_edges(tree)
    if len(leaves) < 2:
        raise ValueError("the tree needs at least two named tasks (leaves)")
    dist = np.zeros((len(leaves), len(leaves)))
    for i, source in enumerate(leaves):
        seen = {source: 0.0}
        stack = [source]
        while stack:
            cur = stack.pop()
            for nxt, length in edges[cur]:
                if nxt not in seen:
                    seen[nxt] = seen[cur] + length
                    stack.append(nxt)
        dist[i] = [seen[t] for t in leaves]
    return TaskMatrix(dist, tuple(leaves), "tree distance", higher_is_better=False)


def taxonomical_distance(tree: Tree, tasks: Sequence[str] | None = None) -> TaskMatrix:
    """Taxonomical distance affinity: ``TD(a, b) = −d_tree(a, b)``, higher means closer.

    Azorin et al. 2023, Table 7 (TD): "distance between tasks in a taxonomy tree,
    multiplied by −1 for consistency". Symmetric; the diagonal is 0.

    Parameters
    ----------
    tree : Newick string, nested mapping or nested sequence (see :func:`tree_distances`)
    tasks : sequence of str, optional
        Tasks to keep, in this order (default: the tree's leaves in order). A task missing
        from the tree is an error.

    Examples
    --------
    >>> td = taxonomical_distance(TABLE1_NEWICK, ["SemSeg", "Keypts", "Edges", "Depth", "Normal"])
    >>> td["SemSeg", "Keypts"], td["Keypts", "Depth"]
    (-8.0, -12.0)
    """
    dist = tree_distances(tree)
    names = list(dist.task_names) if tasks is None else list(tasks)
    missing = [t for t in names if t not in dist.task_names]
    if missing:
        raise ValueError(f"tasks {missing} are not leaves of the tree; leaves are "
                         f"{list(dist.task_names)}")
    idx = [dist.index(t) for t in names]
    values = -dist.values[np.ix_(idx, idx)]
    return TaskMatrix(values + 0.0, tuple(names), "taxonomical distance (TD)")
