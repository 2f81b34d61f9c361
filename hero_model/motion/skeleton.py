"""The HumanML3D 22-joint skeleton (SMPL joint order): names, kinematic chains, raw offsets, the canonical template.

Coordinates follow HumanML3D: metres, Y up, the character faces +Z at frame 0 (so its left is +X).
"""
from __future__ import annotations

import numpy as np

FPS = 20  # HumanML3D / ViMo motion frame rate
NUM_JOINTS = 22
FEATURE_DIM = 263  # 4 root + 21*3 ric + 21*6 rot + 22*3 vel + 4 contacts

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}

# Chains from the root outwards; the arm chains start at spine3 (joint 9).
KINEMATIC_CHAINS: tuple[tuple[int, ...], ...] = (
    (0, 2, 5, 8, 11),      # right leg
    (0, 1, 4, 7, 10),      # left leg
    (0, 3, 6, 9, 12, 15),  # spine and head
    (9, 14, 17, 19, 21),   # right arm
    (9, 13, 16, 18, 20),   # left arm
)

# Parent of each joint (-1 for the root), derived from the chains.
PARENTS: tuple[int, ...] = tuple(
    dict([(0, -1)] + [(c[k], c[k - 1]) for c in KINEMATIC_CHAINS for k in range(1, len(c))])[j]
    for j in range(NUM_JOINTS)
)

# Unit direction of each joint's offset from its parent in the rest pose (HumanML3D's t2m raw offsets).
RAW_OFFSETS = np.array([
    [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
    [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1],
    [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
], dtype=np.float64)

# The project's canonical template: bone length (metres) from each joint's parent. HumanML3D's own template is
# frame 0 of its clip 000021, which is not available here; these lengths describe a ~1.7 m adult whose pelvis
# stands 0.85 m above the floor in the rest pose (ankles on the floor), close to that template's proportions. Any other template can be passed as
# `template_offsets` to joints_to_features.
# The shoulders must sit wider than the hips: HumanML3D's facing direction (features.facing_rotations) adds a hip
# vector and a shoulder vector of opposite sense, and it points forward only when the shoulder term dominates.
CANONICAL_BONE_LENGTHS = np.array([
    0.0,    # pelvis (root)
    0.090,  # left_hip      (pelvis -> hip, sideways)
    0.090,  # right_hip
    0.115,  # spine1
    0.420,  # left_knee     (thigh)
    0.420,  # right_knee
    0.135,  # spine2
    0.430,  # left_ankle    (shin)
    0.430,  # right_ankle
    0.055,  # spine3
    0.135,  # left_foot     (ankle -> toe, forward)
    0.135,  # right_foot
    0.215,  # neck
    0.160,  # left_collar   (spine3 -> collar, sideways)
    0.160,  # right_collar
    0.100,  # head          (forward of the neck, as in HumanML3D's raw offsets)
    0.100,  # left_shoulder (collar -> shoulder, downwards)
    0.100,  # right_shoulder
    0.270,  # left_elbow    (upper arm)
    0.270,  # right_elbow
    0.250,  # left_wrist    (forearm)
    0.250,  # right_wrist
])

# Joints used by the feature extraction (reference.md section 1).
LEG_LENGTH_JOINTS = (5, 8)           # right knee, right ankle: scale between skeletons
FOOT_RIGHT = (8, 11)                 # right ankle, right toe
FOOT_LEFT = (7, 10)                  # left ankle, left toe
FACE_JOINTS = (2, 1, 17, 16)         # right hip, left hip, right shoulder, left shoulder


def canonical_template_offsets() -> np.ndarray:
    """(22, 3) per-joint offsets from the parent of the canonical template: raw direction x bone length."""
    return RAW_OFFSETS * CANONICAL_BONE_LENGTHS[:, None]


def rest_pose(template_offsets: np.ndarray | None = None, root_height: float | None = None) -> np.ndarray:
    """(22, 3) joint positions of the template in its rest pose (arms down), feet on the floor, facing +Z."""
    offsets = canonical_template_offsets() if template_offsets is None else np.asarray(template_offsets, float)
    joints = np.zeros((NUM_JOINTS, 3))
    for chain in KINEMATIC_CHAINS:
        for k in range(1, len(chain)):
            joints[chain[k]] = joints[chain[k - 1]] + offsets[chain[k]]
    joints[:, 1] -= joints[:, 1].min() if root_height is None else joints[0, 1] - root_height
    return joints


def to_ros_frame(positions):
    """HumanML3D axes (X left, Y up, Z forward) -> REP 103 (X forward, Y left, Z up); works on numpy and torch.

    The map (x, y, z) -> (z, x, y) is a cyclic permutation, so it is a proper rotation (no mirroring).
    """
    return positions[..., [2, 0, 1]]


def from_ros_frame(positions):
    """Inverse of to_ros_frame: REP 103 (X forward, Y left, Z up) -> HumanML3D (X left, Y up, Z forward)."""
    return positions[..., [1, 2, 0]]
