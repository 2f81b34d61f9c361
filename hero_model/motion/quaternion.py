"""Unit quaternions (w, x, y, z) for numpy float64 (data processing) and torch (batched inverse on any device).

Only what the HumanML3D representation needs: product, inverse, vector rotation, shortest arc, to-matrix.
"""
from __future__ import annotations

import numpy as np
import torch

_EPS = 1e-12


def qmul(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Hamilton product q * r, broadcasting over leading dims. (..., 4) x (..., 4) -> (..., 4)."""
    w1, x1, y1, z1 = np.moveaxis(q, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(r, -1, 0)
    return np.stack([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ], axis=-1)


def qinv(q):
    """Inverse of a unit quaternion (its conjugate); numpy or torch."""
    sign = np.array([1.0, -1.0, -1.0, -1.0]) if isinstance(q, np.ndarray) else q.new_tensor([1.0, -1.0, -1.0, -1.0])
    return q * sign


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4): v' = v + 2w (u x v) + 2 u x (u x v)."""
    lead = np.broadcast_shapes(q.shape[:-1], v.shape[:-1])
    q, v = np.broadcast_to(q, lead + (4,)), np.broadcast_to(v, lead + (3,))
    u, w = q[..., 1:], q[..., :1]
    uv = np.cross(u, v)
    return v + 2.0 * (w * uv + np.cross(u, uv))


def qrot_torch(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """torch version of qrot; q and v broadcast against each other over leading dims."""
    lead = torch.broadcast_shapes(q.shape[:-1], v.shape[:-1])
    q, v = q.expand(*lead, 4), v.expand(*lead, 3)
    u, w = q[..., 1:], q[..., :1]
    uv = torch.linalg.cross(u, v, dim=-1)
    return v + 2.0 * (w * uv + torch.linalg.cross(u, uv, dim=-1))


def qbetween(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """Shortest-arc unit quaternion rotating direction v0 onto direction v1, (..., 3) -> (..., 4), with w >= 0.

    q = normalize(|v0||v1| + v0.v1, v0 x v1). For antiparallel inputs this is 0/0 (HumanML3D's own code yields NaN
    there); we return the half turn about an axis perpendicular to v0 instead, which maps v0 onto v1 as well.
    """
    v0, v1 = np.broadcast_arrays(np.asarray(v0, dtype=np.float64), np.asarray(v1, dtype=np.float64))
    axis = np.cross(v0, v1)
    w = np.sqrt((v0 ** 2).sum(-1) * (v1 ** 2).sum(-1)) + (v0 * v1).sum(-1)
    q = np.concatenate([w[..., None], axis], axis=-1)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    degenerate = norm[..., 0] < 1e-9 * np.maximum(1.0, (v0 ** 2).sum(-1))
    if degenerate.any():
        d = v0[degenerate]
        perp = np.cross(d, np.array([1.0, 0.0, 0.0]))
        small = np.linalg.norm(perp, axis=-1) < 1e-6
        perp[small] = np.cross(d[small], np.array([0.0, 1.0, 0.0]))
        perp /= np.linalg.norm(perp, axis=-1, keepdims=True)
        q[degenerate] = np.concatenate([np.zeros((len(d), 1)), perp], axis=-1)
        norm[degenerate] = 1.0
    return q / np.maximum(norm, _EPS)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of unit quaternions (..., 4)."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1).reshape(q.shape[:-1] + (3, 3))


def quat_to_cont6d(q: np.ndarray) -> np.ndarray:
    """Continuous 6D rotation (..., 6): the first two columns of the rotation matrix, column 0 then column 1."""
    m = quat_to_matrix(q)
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)
