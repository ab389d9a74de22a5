"""Checkpoints that ``torch.load(..., weights_only=True)`` can read, and method state capture.

A checkpoint is one dict of tensors and primitive containers (no pickled classes), written
atomically through :func:`tasklens._common.io.atomic_write`. Balancing methods keep their
state in private attributes of varied types (numpy generators, torch tensors, an inner torch
optimiser over those tensors, dicts of numpy arrays, counters); :func:`method_state` encodes
them generically into tagged dicts, and :func:`load_method_state` rebuilds them. A method that
defines ``state_dict()`` / ``load_state_dict()`` is asked directly instead.

Faults (issue 14): every tensor of a checkpoint carries a SHA-256 of its bytes (dtype and
shape included) and the rest of the payload one more, checked on load, so that flipped
bytes are reported instead of loaded. A file that cannot be read (empty, truncated,
garbage, or holding pickled objects) raises :class:`CheckpointError` naming the file and
the cause. The names that checkpoint data may choose — numpy bit generators and torch
optimisers — are looked up in allowlists, never with a free ``getattr``.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._common.io import atomic_write

_TAG = "__tasklens_type__"
CHECKPOINT_FORMAT = 2
_CHECKSUMS = "checksums"
_STRUCTURE = "<structure>"

BIT_GENERATORS: dict[str, type] = {
    cls.__name__: cls for cls in (np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937,
                                  np.random.Philox, np.random.SFC64)
}
"""The numpy bit generators a checkpoint may rebuild."""

OPTIMIZER_CLASSES: dict[str, type[torch.optim.Optimizer]] = {
    cls.__name__: cls for cls in (
        torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.RMSprop,
        torch.optim.Adagrad, torch.optim.Adadelta, torch.optim.Adamax, torch.optim.NAdam,
        torch.optim.RAdam, torch.optim.ASGD, torch.optim.Rprop)
}
"""The torch optimisers a method's state may rebuild (built-in ones only)."""


class CheckpointError(ValueError):
    """A checkpoint cannot be written, read, or does not fit the trainer that loads it."""


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
        return _encode_generator(value, where)
    if isinstance(value, torch.optim.Optimizer):
        return _encode_optimizer(value, where, tensor_names or {})
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


def _encode_generator(value: np.random.Generator, where: str) -> dict[str, Any]:
    state = value.bit_generator.state
    if BIT_GENERATORS.get(state["bit_generator"]) is not type(value.bit_generator):
        raise CheckpointError(f"{where}: cannot checkpoint a numpy generator over "
                              f"{state['bit_generator']}; use one of {sorted(BIT_GENERATORS)}")
    return {_TAG: "np_generator", "state": state}


def _encode_optimizer(value: torch.optim.Optimizer, where: str,
                      names: dict[int, str]) -> dict[str, Any]:
    param_names = []
    for group in value.param_groups:
        for p in group["params"]:
            if id(p) not in names:
                raise CheckpointError(f"{where}: the optimiser updates a tensor that is not "
                                      "an attribute of the method; give the method "
                                      "state_dict()/load_state_dict()")
            param_names.append(names[id(p)])
    if OPTIMIZER_CLASSES.get(type(value).__name__) is not type(value):
        raise CheckpointError(f"{where}: only the torch.optim optimisers "
                              f"{sorted(OPTIMIZER_CLASSES)} can be checkpointed, got "
                              f"{type(value).__name__}")
    return {_TAG: "optimizer", "class": type(value).__name__, "params": param_names,
            "defaults": encode_value(dict(value.defaults), where),
            "state": value.state_dict()}


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
        return _decode_generator(value["state"])
    if kind == "optimizer":
        return _decode_optimizer(value, tensors or {})
    if kind in ("list", "tuple"):
        items = [decode_value(v, tensors) for v in value["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {k: decode_value(v, tensors) for k, v in zip(value["keys"], value["values"])}
    raise CheckpointError(f"unknown encoded type {kind!r} in checkpoint")


def _decode_generator(state: dict[str, Any]) -> np.random.Generator:
    name = state.get("bit_generator") if isinstance(state, dict) else None
    cls = BIT_GENERATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise CheckpointError(f"the checkpoint asks for the numpy bit generator {name!r}, "
                              f"which is not one of {sorted(BIT_GENERATORS)}")
    bit_generator = cls()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _decode_optimizer(value: dict[str, Any], tensors: dict[str, torch.Tensor]
                      ) -> torch.optim.Optimizer:
    cls = OPTIMIZER_CLASSES.get(value["class"]) if isinstance(value["class"], str) else None
    if cls is None:
        raise CheckpointError(f"the checkpoint asks for the optimiser {value['class']!r}, "
                              f"which is not one of {sorted(OPTIMIZER_CLASSES)}")
    missing = [name for name in value["params"] if name not in tensors]
    if missing:
        raise CheckpointError(f"the checkpointed optimiser updates {missing}, which the "
                              "checkpoint does not hold")
    params = [tensors[name] for name in value["params"]]
    optimizer = cls(params, **decode_value(value["defaults"]))
    optimizer.load_state_dict(value["state"])
    return optimizer


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
    # decode everything first, so that a bad entry leaves the method untouched
    restored: dict[str, Any] = {}
    for name, encoded in zip(state["names"], state["values"]):
        try:
            restored[name] = decode_value(
                encoded, {k: v for k, v in restored.items() if isinstance(v, torch.Tensor)})
        except CheckpointError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"method attribute {name}: cannot rebuild it from the "
                                  f"checkpoint ({type(exc).__name__}: {exc})") from exc
    for name, value in restored.items():
        setattr(method, name, value)


# ---------------------------------------------------------------------------- checksums
def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of a payload with its path, in a fixed order (dicts in insertion order)."""
    if isinstance(value, dict):
        for key, item in value.items():
            name = key if isinstance(key, str) else repr(key)
            yield from _leaves(item, f"{path}/{name}" if path else name)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def tensor_digest(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes (hex)."""
    data = tensor.detach().cpu().reshape(-1).contiguous()
    h = hashlib.sha256(f"{data.dtype}{tuple(tensor.shape)}".encode())
    if data.numel():  # a zero-copy view of the bytes (no second copy of the weights)
        h.update(memoryview(data.view(torch.uint8).numpy()))
    return h.hexdigest()


def payload_checksums(payload: dict[str, Any]) -> dict[str, str]:
    """``{path: SHA-256}`` of every tensor of ``payload``, plus one over everything else."""
    sums: dict[str, str] = {}
    rest = hashlib.sha256()
    for path, leaf in _leaves({k: v for k, v in payload.items() if k != _CHECKSUMS}):
        if isinstance(leaf, torch.Tensor):
            sums[path] = tensor_digest(leaf)
        else:
            rest.update(f"{path}={type(leaf).__name__}:{leaf!r}\n".encode())
    sums[_STRUCTURE] = rest.hexdigest()
    return sums


def _verify(payload: dict[str, Any], src: Path) -> None:
    stored = payload.get(_CHECKSUMS)
    if not isinstance(stored, dict):
        raise CheckpointError(f"{src} has no checksums; it is damaged or was not written by "
                              "tasklens")
    actual = payload_checksums(payload)
    bad = [k for k in sorted(set(stored) | set(actual)) if stored.get(k) != actual.get(k)]
    if bad:
        what = ", ".join("its non-tensor content" if k == _STRUCTURE else f"tensor {k}"
                         for k in bad[:3])
        raise CheckpointError(f"{src} is corrupted: {what}{' …' if len(bad) > 3 else ''} "
                              "no longer match(es) the SHA-256 written with it (the file was "
                              "damaged or modified after it was written); resume from another "
                              "checkpoint or start again")


# ------------------------------------------------------------------------------- files
def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically with ``torch.save`` (temp file + rename), with the
    SHA-256 of every tensor."""
    dest = Path(path)
    full = {"format": CHECKPOINT_FORMAT, **payload}
    full[_CHECKSUMS] = payload_checksums(full)
    with atomic_write(dest, "wb") as handle:
        torch.save(full, handle)
    return dest


def _read(src: Path) -> Any:
    """``torch.load(weights_only=True)`` with the cause of a failure in our words."""
    try:
        with open(src, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {src}: {exc.strerror or exc}") from None
    if size == 0:
        raise CheckpointError(f"cannot read checkpoint {src}: the file is empty (the write "
                              "that produced it did not finish)")
    if not zipfile.is_zipfile(src):
        raise CheckpointError(f"cannot read checkpoint {src}: it is not a torch.save archive "
                              f"({size} bytes; truncated, or another kind of file)")
    try:
        return torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:  # every cause becomes one named error
        if "weights_only" in str(exc).lower() or "unpickl" in type(exc).__name__.lower():
            cause = ("it holds objects other than tensors and plain containers, which "
                     "tasklens never unpickles (they could run code)")
        else:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            cause = f"it is damaged ({type(exc).__name__}: {first[:200]})"
        raise CheckpointError(f"cannot read checkpoint {src}: {cause}") from None


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and verify a checkpoint.

    Loads with ``weights_only=True`` (no pickled code runs), then checks the format and the
    SHA-256 of every tensor.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    CheckpointError
        The file is empty, truncated, not a checkpoint, holds pickled objects, or its
        content does not match its checksums. The message names the file and the cause.
    """
    src = Path(path)
    if not src.is_file():
        raise FileNotFoundError(f"no checkpoint at {src}")
    payload = _read(src)
    if not isinstance(payload, dict) or "format" not in payload:
        raise CheckpointError(f"{src} is not a tasklens checkpoint (no format field)")
    if payload["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{src} has checkpoint format {payload['format']!r}; this "
                              f"tasklens reads format {CHECKPOINT_FORMAT} (written by another "
                              "version; train again, or resume with the version that wrote it)")
    _verify(payload, src)
    return payload
