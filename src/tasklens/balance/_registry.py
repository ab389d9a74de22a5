"""The explicit name → class registry behind :func:`tasklens.balance.get`."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from ._base import BalanceMethod
from .aligned_mtl import AlignedMTL
from .cagrad import CAGrad
from .config import ConFIG
from .constant import Constant
from .cr_mogm import CRMOGM
from .db_mtl import DBMTL
from .dualproj import DualProj
from .dwa import DWA
from .ew import EW
from .excess_mtl import ExcessMTL
from .fairgrad import FairGrad
from .famo import FAMO
from .gls import GLS
from .graddrop import GradDrop
from .gradnorm import GradNorm
from .gradvac import GradVac
from .imtl import IMTL
from .imtl_g import IMTLG
from .krum import Krum
from .mgda import MGDA
from .moco import MoCo
from .modo import MoDo
from .moml import MOML
from .nash_mtl import NashMTL
from .pcd import PCD
from .pcgrad import PCGrad
from .repmtl import RepMTL
from .rlw import RLW
from .sdmgrad import SDMGrad
from .stch import STCH
from .trimmed_mean import TrimmedMean
from .upgrad import UPGrad
from .uw import UW

_CLASSES: tuple[type[BalanceMethod], ...] = (
    # loss-based
    EW, RLW, UW, DWA, GLS, FAMO, STCH, ExcessMTL, DBMTL,
    # gradient-based
    MGDA, PCGrad, CAGrad, GradVac, IMTLG, NashMTL, AlignedMTL, FairGrad, UPGrad, GradNorm,
    GradDrop,
    # bi-level (needs a held-out batch after each step)
    MOML,
    # representation-level (regularises the task gradients w.r.t. the shared z)
    RepMTL,
    # added in this release: loss-based, gradient-based, stochastic / stateful, robust
    Constant, IMTL, DualProj, ConFIG, PCD, CRMOGM, MoDo, SDMGrad, MoCo, Krum, TrimmedMean,
)  # fmt: skip

METHODS: MappingProxyType[str, type[BalanceMethod]] = MappingProxyType(
    {cls.name: cls for cls in _CLASSES}
)
"""Read-only map from lower-case method name to its class."""


def available() -> tuple[str, ...]:
    """Names accepted by :func:`get`, in registry order."""
    return tuple(METHODS)


def get(name: str, **hparams: Any) -> BalanceMethod:
    """Instantiate a balancing method by name.

    Parameters
    ----------
    name : str
        Lower-case method name, one of :func:`available` (e.g. ``"mgda"``, ``"pcgrad"``).
    **hparams
        Hyper-parameters of that method (see its class docstring); omitted ones take the
        published defaults.

    Returns
    -------
    BalanceMethod

    Raises
    ------
    ValueError
        Unknown ``name`` (the message lists the known names) or a bad hyper-parameter value.
    TypeError
        An unknown hyper-parameter name (the message lists the accepted ones).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    cls = METHODS.get(name)
    if cls is None:
        hint = f" (names are lower-case: {name.lower()!r})" if name.lower() in METHODS else ""
        raise ValueError(
            f"unknown balancing method {name!r}{hint}; choose one of {', '.join(METHODS)}"
        )
    accepted = cls.hparam_names()
    unknown = sorted(set(hparams) - set(accepted))
    if unknown:
        listing = ", ".join(accepted) if accepted else "none"
        raise TypeError(
            f"unknown hyper-parameter(s) {unknown} for method {name!r}; accepted: {listing}"
        )
    return cls(**hparams)
