"""Plain-NumPy task losses, written from their textbook definitions (nothing imports torch).

Used by tests/nn to check :func:`tasklens.nn.task_loss`.
"""

from __future__ import annotations

import numpy as np


def mse(output: np.ndarray, target: np.ndarray) -> float:
    """mean((o - y)²) over all elements."""
    d = np.asarray(output, float) - np.asarray(target, float)
    return float(np.mean(d * d))


def l1(output: np.ndarray, target: np.ndarray) -> float:
    """mean(|o - y|) over all elements."""
    return float(np.mean(np.abs(np.asarray(output, float) - np.asarray(target, float))))


def huber(output: np.ndarray, target: np.ndarray, delta: float = 1.0) -> float:
    """mean of ½d² where |d| < δ, else δ(|d| - ½δ)."""
    d = np.abs(np.asarray(output, float) - np.asarray(target, float))
    return float(np.mean(np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))))


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """mean over rows of -log softmax(o)[y], by an explicit loop with a stable log-sum-exp."""
    total = 0.0
    for row, y in zip(np.asarray(logits, float), np.asarray(labels)):
        m = row.max()
        log_z = m + np.log(np.sum(np.exp(row - m)))
        total += log_z - row[int(y)]
    return total / len(logits)


def bce_with_logits(logits: np.ndarray, targets: np.ndarray) -> float:
    """mean over all elements of -y log σ(o) - (1 - y) log(1 - σ(o)).

    Computed as ``-y·logσ(o) - (1-y)·logσ(-o)`` with ``logσ(u) = -log1p(exp(-u))`` on the
    stable side.
    """
    o = np.asarray(logits, float).ravel()
    y = np.asarray(targets, float).ravel()

    def log_sigmoid(u: np.ndarray) -> np.ndarray:
        return np.where(u >= 0, -np.log1p(np.exp(-np.abs(u))), u - np.log1p(np.exp(-np.abs(u))))

    return float(np.mean(-y * log_sigmoid(o) - (1 - y) * log_sigmoid(-o)))


def linear_cka_hsic(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA in its kernel form: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)).

    ``K = X Xᵀ``, ``L = Y Yᵀ`` (N × N Gram matrices), ``HSIC(K, L) = tr(K H L H)`` with the
    centring matrix ``H = I - 11ᵀ/N`` (the 1/(N-1)² factors cancel).
    """
    x = np.asarray(x, float).reshape(len(x), -1)
    y = np.asarray(y, float).reshape(len(y), -1)
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.trace(a @ h @ b @ h))

    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))
