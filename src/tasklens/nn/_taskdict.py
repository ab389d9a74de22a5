"""A :class:`torch.nn.ModuleDict` keyed by task names that torch refuses as module names.

torch module names cannot contain ``.`` (it separates the path of a parameter in a
``state_dict``), cannot be empty and cannot shadow an attribute of the dict (``"training"``,
``"update"``, ...). R-style column names such as ``y.1`` are common task names, so the
models key their per-task modules by an escaped name and show the task names outside:
``%`` → ``%25`` and ``.`` → ``%2E`` (percent-encoding, reversible), and a name that would
still be refused is prefixed with ``%_``. A name without ``%`` or ``.`` that torch accepts is
its own key, so the ``state_dict`` keys of models with ordinary task names are unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from torch import nn

_PREFIX = "%_"


def _reserved(key: str) -> bool:
    """Whether torch refuses ``key`` as a ModuleDict key (empty or an attribute name)."""
    return key == "" or hasattr(TaskModuleDict, key) or key in _INSTANCE_ATTRIBUTES


def module_key(task_name: str) -> str:
    """The module key under which the per-task module of ``task_name`` is stored."""
    if not isinstance(task_name, str):
        raise TypeError(f"task names must be str, got {type(task_name).__name__}")
    key = task_name.replace("%", "%25").replace(".", "%2E")
    return _PREFIX + key if _reserved(key) else key


def task_name_of(key: str) -> str:
    """Inverse of :func:`module_key`."""
    if key.startswith(_PREFIX):
        key = key[len(_PREFIX):]
    return re.sub("%(25|2E)", lambda m: "%" if m.group(1) == "25" else ".", key)


class TaskModuleDict(nn.ModuleDict):
    """``{task name: module}`` accepting any task name (see the module docstring).

    Indexing, ``in``, iteration, ``keys()`` and ``items()`` speak task names; the
    registered submodules (and so ``state_dict`` keys) use :func:`module_key`.
    """

    def __init__(self, modules: Mapping[str, nn.Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> nn.Module:  # type: ignore[override]
        return self._modules[module_key(key)]  # type: ignore[return-value]

    def __setitem__(self, key: str, module: nn.Module) -> None:
        self.add_module(module_key(key), module)

    def __delitem__(self, key: str) -> None:
        del self._modules[module_key(key)]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and module_key(key) in self._modules

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:  # type: ignore[override]
        return [task_name_of(k) for k in self._modules]

    def items(self) -> list[tuple[str, nn.Module]]:  # type: ignore[override]
        return [(task_name_of(k), m) for k, m in self._modules.items()]  # type: ignore[misc]

    def pop(self, key: str) -> nn.Module:
        module = self[key]
        del self[key]
        return module

    def update(self, modules: Mapping[str, nn.Module] | Iterable[tuple[str, nn.Module]]
               ) -> None:
        pairs: Any = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self[key] = module


# attributes set on every nn.Module instance (not on the class), which add_module refuses too
_INSTANCE_ATTRIBUTES = frozenset(vars(nn.Module()))
