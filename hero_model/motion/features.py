"""HumanML3D's 263-d motion features, written from the step-by-step description in reference.md section 1.

Forward (`joints_to_features`): joint positions (T, 22, 3) -> features (T-1, 263), in this order per row:
  [0]        root angular velocity about Y (half the per-frame yaw step, radians)
  [1:3]      root linear velocity on XZ, in the root's facing frame
  [3]        root height Y
  [4:67]     "ric": joints 1..21 relative to the root XZ, rotated into the root facing frame
  [67:193]   joints 1..21 local rotations as continuous 6D
  [193:259]  velocities of all 22 joints, rotated by the root rotation of frame t
  [259:263]  foot contacts: left ankle, left toe, right ankle, right toe (0/1)
Inverse (`features_to_joints`, HumanML3D's recover_from_ric): features (..., T, 263) -> joints (..., T, 22, 3),
numpy or torch, batched; it reads only dims 0-66.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from .quaternion import qbetween, qinv, qmul, qrot, qrot_torch, quat_to_cont6d
from .skeleton import (FACE_JOINTS, FEATURE_DIM, FOOT_LEFT, FOOT_RIGHT, KINEMATIC_CHAINS, LEG_LENGTH_JOINTS,
                       NUM_JOINTS, PARENTS, RAW_OFFSETS, canonical_template_offsets)

UP = np.array([0.0, 1.0, 0.0])
FORWARD = np.array([0.0, 0.0, 1.0])
FORWARD_SMOOTHING_SIGMA = 20  # frames; HumanML3D smooths the facing direction before taking root rotations


def _check_joints(joints: np.ndarray) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"joints must have shape (T, {NUM_JOINTS}, 3), got {joints.shape}")
    if joints.shape[0] < 2:
        raise ValueError(f"joints need at least 2 frames to form one feature row, got T={joints.shape[0]}")
    if not np.isfinite(joints).all():
        raise ValueError("joints contain NaN or inf")
    return joints


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def offsets_from_joints(frame: np.ndarray) -> np.ndarray:
    """(22, 3) offsets of a skeleton measured on one frame of joints: raw direction x measured bone length."""
    lengths = np.linalg.norm(frame - frame[np.maximum(PARENTS, 0)], axis=-1)
    lengths[0] = 0.0
    return RAW_OFFSETS * lengths[:, None]


def facing_rotations(joints: np.ndarray, smooth: bool) -> np.ndarray:
    """(T, 4) root rotations taking each frame's facing direction to +Z (step 6 of the reference).

    across = (joint 1 - joint 2) + (joint 17 - joint 16): left_hip - right_hip but right_shoulder - left_shoulder.
    HumanML3D quirk, kept for data compatibility: the hip term has the opposite sign to the one used when the clip
    is turned to face +Z (step 4), so the two terms partly cancel and the shoulders (wider than the hips) decide.
    """
    r_hip, l_hip, r_shoulder, l_shoulder = FACE_JOINTS
    across = (joints[:, l_hip] - joints[:, r_hip]) + (joints[:, r_shoulder] - joints[:, l_shoulder])
    forward = _normalize(np.cross(UP, _normalize(across)))
    if smooth:
        forward = _normalize(gaussian_filter1d(forward, FORWARD_SMOOTHING_SIGMA, axis=0, mode="nearest"))
    return qbetween(forward, FORWARD)


def inverse_kinematics(joints: np.ndarray, smooth_forward: bool) -> np.ndarray:
    """(T, 22, 4) swing-only local rotations (HumanML3D's IK); index 0 holds the root rotation.

    Along each chain R starts at the root rotation (the arm chains too, although they hang off joint 9): the local
    rotation of joint c = inverse(R) * shortest_arc(raw offset of c -> unit bone direction parent->c), R <- R * local.
    """
    T = joints.shape[0]
    quats = np.zeros((T, NUM_JOINTS, 4))
    root = facing_rotations(joints, smooth=smooth_forward)
    root[0] = (1.0, 0.0, 0.0, 0.0)  # HumanML3D sets the first frame's root rotation to identity
    quats[:, 0] = root
    for chain in KINEMATIC_CHAINS:
        accumulated = root
        for parent, child in zip(chain[:-1], chain[1:]):
            bone = _normalize(joints[:, child] - joints[:, parent])
            swing = qbetween(np.broadcast_to(RAW_OFFSETS[child], bone.shape), bone)
            local = qmul(qinv(accumulated), swing)
            quats[:, child] = local
            accumulated = qmul(accumulated, local)
    return quats


def forward_kinematics(quats: np.ndarray, root_positions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(T, 22, 3) joint positions from local rotations (T, 22, 4), root positions (T, 3) and offsets (22, 3)."""
    joints = np.zeros(quats.shape[:-2] + (NUM_JOINTS, 3))
    joints[:, 0] = root_positions
    for chain in KINEMATIC_CHAINS:
        accumulated = quats[:, 0]
        for parent, child in zip(chain[:-1], chain[1:]):
            accumulated = qmul(accumulated, quats[:, child])
            joints[:, child] = qrot(accumulated, np.broadcast_to(offsets[child], (len(quats), 3))) + joints[:, parent]
    return joints


def canonicalize_joints(joints: np.ndarray, template_offsets: np.ndarray | None = None) -> np.ndarray:
    """Steps 1-4 of HumanML3D's processing: retarget onto the template, floor at Y=0, frame-0 root at the XZ origin,
    frame 0 facing +Z. Returns (T, 22, 3) float64 -- the joints that joints_to_features describes."""
    joints = _check_joints(joints)
    template = canonical_template_offsets() if template_offsets is None else np.asarray(template_offsets, np.float64)
    if template.shape != (NUM_JOINTS, 3):
        raise ValueError(f"template_offsets must have shape ({NUM_JOINTS}, 3), got {template.shape}")

    # 1. Uniform skeleton: scale the root path by the leg-length ratio, keep the bone directions, swap the lengths.
    def leg_length(offsets: np.ndarray) -> float:
        return sum(np.abs(offsets[j]).max() for j in LEG_LENGTH_JOINTS)

    scale = leg_length(template) / max(leg_length(offsets_from_joints(joints[0])), 1e-9)
    quats = inverse_kinematics(joints, smooth_forward=False)
    joints = forward_kinematics(quats, joints[:, 0] * scale, template)

    # 2. Floor: the lowest joint over the whole clip touches Y = 0.
    joints[..., 1] -= joints[..., 1].min()

    # 3. Origin: frame 0's root at X = Z = 0.
    joints -= joints[0, 0] * np.array([1.0, 0.0, 1.0])

    # 4. Face +Z at frame 0 (here across = right - left for both hips and shoulders; see facing_rotations).
    r_hip, l_hip, r_shoulder, l_shoulder = FACE_JOINTS
    across = (joints[0, r_hip] - joints[0, l_hip]) + (joints[0, r_shoulder] - joints[0, l_shoulder])
    forward = _normalize(np.cross(UP, _normalize(across)))
    return qrot(qbetween(forward, FORWARD), joints)


def foot_contacts(joints: np.ndarray, threshold: float = 0.002) -> np.ndarray:
    """(T-1, 4) contacts [left ankle, left toe, right ankle, right toe]: squared displacement t -> t+1 < threshold.

    HumanML3D uses no height test, only this velocity threshold (0.002 m^2 per frame at 20 fps).
    """
    feet = list(FOOT_LEFT) + list(FOOT_RIGHT)
    displacement = ((joints[1:, feet] - joints[:-1, feet]) ** 2).sum(-1)
    return (displacement < threshold).astype(np.float64)


def joints_to_features(joints: np.ndarray, template_offsets: np.ndarray | None = None,
                       feet_threshold: float = 0.002, heading_flip_quirk: bool = False) -> np.ndarray:
    """HumanML3D features (T-1, 263) float32 of joint positions (T, 22, 3) in metres, Y up.

    `template_offsets` (22, 3): the skeleton every clip is retargeted onto (raw direction x bone length);
    None = the project's canonical template (skeleton.CANONICAL_BONE_LENGTHS).
    `heading_flip_quirk`: HumanML3D takes dim 0 as arcsin of the Y component of r_rot[t+1] * inv(r_rot[t]) without
    first choosing the quaternion sign with w >= 0, so on the one frame where the heading crosses 180 degrees dim 0
    has the wrong sign and the recovered heading drifts by one frame's yaw step. False (default) applies the w >= 0
    convention so that features_to_joints inverts exactly; True reproduces HumanML3D's files bit for bit.
    """
    joints = canonicalize_joints(joints, template_offsets)
    T = joints.shape[0]

    contacts = foot_contacts(joints, feet_threshold)                       # 5. (T-1, 4)

    quats = inverse_kinematics(joints, smooth_forward=True)               # 6. (T, 22, 4)
    r_rot = quats[:, 0]                                                     # (T, 4) pure yaw, w >= 0 (t >= 1)

    # 7. Root channels. dim 0 = arcsin(y of r_rot[t+1] * inv(r_rot[t])) = half the yaw step.
    r_step = qmul(r_rot[1:], qinv(r_rot[:-1]))                              # (T-1, 4)
    if not heading_flip_quirk:
        r_step = np.where(r_step[:, :1] < 0, -r_step, r_step)
    root_rot_vel = np.arcsin(np.clip(r_step[:, 2], -1.0, 1.0))             # (T-1,)
    root_lin_vel = qrot(r_rot[1:], joints[1:, 0] - joints[:-1, 0])[:, [0, 2]]  # (T-1, 2), in frame t+1's facing
    root_y = joints[:-1, 0, 1]                                              # (T-1,)

    # 8. ric: joints relative to the root's XZ, rotated into the facing frame of their own frame.
    relative = joints - joints[:, :1] * np.array([1.0, 0.0, 1.0])
    ric = qrot(r_rot[:, None], relative)[:-1, 1:].reshape(T - 1, -1)      # (T-1, 63)

    rot6d = quat_to_cont6d(quats[:-1, 1:]).reshape(T - 1, -1)              # (T-1, 126)

    # 9. Joint velocities in the facing frame of frame t.
    local_vel = qrot(r_rot[:-1, None], joints[1:] - joints[:-1]).reshape(T - 1, -1)  # (T-1, 66)

    features = np.concatenate([root_rot_vel[:, None], root_lin_vel, root_y[:, None], ric, rot6d, local_vel,
                               contacts], axis=-1)
    assert features.shape == (T - 1, FEATURE_DIM)
    return features.astype(np.float32)


def recover_root(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root rotation quaternions (..., T, 4) and positions (..., T, 3) from features (..., T, >=4).

    a[t] = sum_{s<t} dim0[s] (half the accumulated yaw), q[t] = (cos a, 0, sin a, 0);
    root XZ[t] = sum_{s<t} inverse(q[s+1]) * (dims 1-2 of row s); root Y = dim 3.
    """
    half_yaw = torch.cumsum(features[..., :-1, 0], dim=-1)
    half_yaw = torch.cat([torch.zeros_like(features[..., :1, 0]), half_yaw], dim=-1)          # (..., T)
    zeros = torch.zeros_like(half_yaw)
    r_rot = torch.stack([torch.cos(half_yaw), zeros, torch.sin(half_yaw), zeros], dim=-1)    # (..., T, 4)

    step = torch.zeros(features.shape[:-1] + (3,), dtype=features.dtype, device=features.device)
    step[..., 1:, 0] = features[..., :-1, 1]
    step[..., 1:, 2] = features[..., :-1, 2]
    position = torch.cumsum(qrot_torch(qinv(r_rot), step), dim=-2)                            # (..., T, 3)
    position[..., 1] = features[..., 3]
    return r_rot, position


def features_to_joints(features):
    """Joint positions (..., T, 22, 3) from HumanML3D features (..., T, 263); numpy in -> numpy out, else torch.

    Each feature row gives one frame of joints (the inverse of steps 7-8; reads dims 0-66 only).
    """
    is_numpy = isinstance(features, np.ndarray)
    x = torch.from_numpy(np.asarray(features, dtype=np.float64)) if is_numpy else features
    if x.shape[-1] != FEATURE_DIM:
        raise ValueError(f"features must end in dimension {FEATURE_DIM}, got shape {tuple(x.shape)}")
    r_rot, root = recover_root(x)
    ric = x[..., 4:4 + 3 * (NUM_JOINTS - 1)].reshape(x.shape[:-1] + (NUM_JOINTS - 1, 3))
    joints = qrot_torch(qinv(r_rot)[..., None, :], ric)                                        # (..., T, 21, 3)
    joints = joints + (root * root.new_tensor([1.0, 0.0, 1.0]))[..., None, :]
    joints = torch.cat([root[..., None, :], joints], dim=-2)                                   # (..., T, 22, 3)
    if is_numpy:
        return joints.numpy().astype(features.dtype if features.dtype.kind == "f" else np.float64, copy=False)
    return joints
