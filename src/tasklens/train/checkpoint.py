"""Checkpoints that ``torch.load(..., weights_only=True)`` can read, and method state capture.

A checkpoint is one dict of tensors and primitive containers (no pickled classes), written
atomically through :func:`tasklens._common.io.atomic_write`. Balancing methods keep their
state in private attributes of varied types (numpy generators, torch tensors, an inner torch
optimiser over those tensors, dicts of numpy arrays, counters); :func:`method_state` encodes
them generically into tagged dicts, and :func:`load_method_state` rebuilds them. A method that
defines ``state_dict()`` / ``load_state_dict()`` is asked directly instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._common.io import atomic_write

_TAG = "__tasklens_type__"
CHECKPOINT_FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint cannot be written or does not fit the trainer that loads it."""


# ---------------------------------------------------------------------------- encoding
def encode_value(value: Any, where: str, tensor_names: dict[int, str] | None = None) -> Any:
    """Encode ``value`` into tensors and primitive containers (tagged dicts).

    Parameters
    ----------
    value : any supported object
        None, bool, int, float, str, torch tensor, numpy array / scalar, numpy Generator,
        torch optimiser (its parameters must be named in ``tensor_names``), and lists,
        tuples and dicts of those.
    where : str
        Where the value lives (for error messages).
    tensor_names : dict {id(tensor): attribute name}, optional
        Lets an optimiser refer to the tensors it updates by name.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        return {_TAG: "tensor", "data": value.detach().clone(),
                "requires_grad": bool(value.requires_grad)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise CheckpointError(f"{where}: cannot checkpoint a numpy array of dtype "
                                  f"{value.dtype}")
        return {_TAG: "ndarray", "data": torch.from_numpy(np.array(value, copy=True))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.random.Generator):
        return {_TAG: "np_generator", "state": value.bit_generator.state}
    if isinstance(value, torch.optim.Optimizer):
        names = tensor_names or {}
        param_names = []
        for group in value.param_groups:
            for p in group["params"]:
                if id(p) not in names:
                    raise CheckpointError(f"{where}: the optimiser updates a tensor that is not "
                                          "an attribute of the method; give the method "
                                          "state_dict()/load_state_dict()")
                param_names.append(names[id(p)])
        if type(value) is not getattr(torch.optim, type(value).__name__, None):
            raise CheckpointError(f"{where}: only torch.optim optimisers can be checkpointed, "
                                  f"got {type(value).__name__}")
        return {_TAG: "optimizer", "class": type(value).__name__, "params": param_names,
                "defaults": encode_value(dict(value.defaults), where),
                "state": value.state_dict()}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {_TAG: kind, "items": [encode_value(v, f"{where}[{i}]", tensor_names)
                                      for i, v in enumerate(value)]}
    if isinstance(value, dict):
        keys = list(value)
        bad = [k for k in keys if not isinstance(k, (str, int))]
        if bad:
            raise CheckpointError(f"{where}: dict keys must be str or int, got {bad[:3]}")
        return {_TAG: "dict", "keys": keys,
                "values": [encode_value(value[k], f"{where}[{k!r}]", tensor_names)
                           for k in keys]}
    raise CheckpointError(
        f"{where}: cannot checkpoint a value of type {type(value).__name__}; give the method "
        "state_dict() and load_state_dict() methods"
    )


def decode_value(value: Any, tensors: dict[str, torch.Tensor] | None = None) -> Any:
    """Inverse of :func:`encode_value`; ``tensors`` maps attribute names for optimisers."""
    if not isinstance(value, dict) or _TAG not in value:
        return value
    kind = value[_TAG]
    if kind == "tensor":
        data = value["data"].clone()
        return data.requires_grad_(True) if value["requires_grad"] else data
    if kind == "ndarray":
        return value["data"].numpy().copy()
    if kind == "np_generator":
        state = value["state"]
        bit_generator = getattr(np.random, state["bit_generator"])()
        bit_generator.state = state
        return np.random.Generator(bit_generator)
    if kind == "optimizer":
        params = [(tensors or {})[name] for name in value["params"]]
        cls = getattr(torch.optim, value["class"])
        optimizer = cls(params, **decode_value(value["defaults"]))
        optimizer.load_state_dict(value["state"])
        return optimizer
    if kind in ("list", "tuple"):
        items = [decode_value(v, tensors) for v in value["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {k: decode_value(v, tensors) for k, v in zip(value["keys"], value["values"])}
    raise CheckpointError(f"unknown encoded type {kind!r} in checkpoint")


# ------------------------------------------------------------------------ method state
def method_state(method: Any) -> dict[str, Any]:
    """The state of a balancing method as tensors and primitive containers.

    Uses ``method.state_dict()`` when the method has one; otherwise every instance
    attribute whose name starts with ``_`` (the method's private state: random generators,
    learned logits and their optimiser, running sums). Hyper-parameters are not stored:
    the method handed to the resuming trainer is built with them.
    """
    if callable(getattr(method, "state_dict", None)):
        return {"kind": "state_dict", "state": method.state_dict()}
    attrs = {k: v for k, v in vars(method).items() if k.startswith("_")}
    tensor_names = {id(v): k for k, v in attrs.items() if isinstance(v, torch.Tensor)}
    # tensors first, so that an optimiser can be rebuilt over the restored tensors
    order = sorted(attrs, key=lambda k: isinstance(attrs[k], torch.optim.Optimizer))
    name = getattr(method, "name", type(method).__name__)
    return {"kind": "attributes", "names": order,
            "values": [encode_value(attrs[k], f"method {name!r} attribute {k}", tensor_names)
                       for k in order]}


def load_method_state(method: Any, state: dict[str, Any]) -> None:
    """Restore what :func:`method_state` captured into ``method`` (in place)."""
    if state["kind"] == "state_dict":
        loader = getattr(method, "load_state_dict", None)
        if not callable(loader):
            raise CheckpointError(f"the checkpoint holds a state_dict for the method, but "
                                  f"{type(method).__name__} has no load_state_dict()")
        loader(state["state"])
        return
    restored: dict[str, Any] = {}
    for name, encoded in zip(state["names"], state["values"]):
        restored[name] = decode_value(
            encoded, {k: v for k, v in restored.items() if isinstance(v, torch.Tensor)})
        setattr(method, name, restored[name])


# ------------------------------------------------------------------------------- files
def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically with ``torch.save`` (temp file + rename)."""
    dest = Path(path)
    with atomic_write(dest, "wb") as handle:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, handle)
    return dest


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` (no arbitrary code is unpickled)."""
    src = Path(path)
    if not src.is_file():
        raise FileNotFoundError(f"no checkpoint at {src}")
    payload = torch.load(src, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{src} is not a tasklens trainer checkpoint "
                              f"(format {CHECKPOINT_FORMAT})")
    return payload
