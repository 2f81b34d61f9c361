"""HumanML3D motion representation: skeleton constants, 263-d features and their inverse, normalisation."""
from .features import canonicalize_joints, features_to_joints, joints_to_features
from .normalization import FEATURE_GROUPS, Normalizer, apply_feat_bias, compute_mean_std
from .skeleton import (FEATURE_DIM, FPS, JOINT_NAMES, KINEMATIC_CHAINS, NUM_JOINTS, PARENTS, RAW_OFFSETS,
                       canonical_template_offsets, from_ros_frame, rest_pose, to_ros_frame)

__all__ = [
    "FEATURE_DIM", "FEATURE_GROUPS", "FPS", "JOINT_NAMES", "KINEMATIC_CHAINS", "NUM_JOINTS", "Normalizer", "PARENTS",
    "RAW_OFFSETS", "apply_feat_bias", "canonical_template_offsets", "canonicalize_joints", "compute_mean_std",
    "features_to_joints", "from_ros_frame", "joints_to_features", "rest_pose", "to_ros_frame",
]
