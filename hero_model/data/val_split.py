"""Carving a validation split out of ViMo's train list, for model selection (the test list is never touched).

HERO's official code selects checkpoints on the test split; here selection uses pairs held out of train.txt:

- stratified by subcategory: each subcategory gives about `val_fraction` of its pairs, and every subcategory with at
  least 2 train pairs gives at least 1 (and keeps at least 1 in train), so validation covers every kind of interaction;
- leak-aware: pairs that share a video or a motion file (ViMo reuses motions across videos; ViMo-T2/T3 reuse videos
  across motions) form one group and go to the same side. Only when a subcategory's pairs all belong to a single
  group does it fall back to holding out single pairs; such val pairs are counted in `shared` and logged;
- deterministic: the same pairs, val_fraction and seed give the same split on every machine.
"""
from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .split_files import PairEntry

logger = logging.getLogger("hero_model.data")


@dataclass(frozen=True)
class ValSplit:
    """Indices into the train list: `train` and `val` partition it; `shared` counts val pairs whose video or motion
    also appears in a train pair (0 unless the single-group fallback was needed)."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    shared: int


def _groups(pairs: Sequence[PairEntry]) -> list[list[int]]:
    """Connected components of pairs linked by a shared video or motion path (union-find)."""
    parent = list(range(len(pairs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_owner: dict[tuple[str, str], int] = {}
    for i, pair in enumerate(pairs):
        for key in (("video", pair.video), ("motion", pair.motion)):
            j = first_owner.setdefault(key, i)
            parent[find(i)] = find(j)
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(len(pairs)):
        members[find(i)].append(i)
    return sorted(members.values())  # ordered by first index: independent of hashing


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def stratified_val_split(pairs: Sequence[PairEntry], val_fraction: float, seed: int) -> ValSplit:
    """Split the train list's pairs into (train, val) as described in the module docstring."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    subcategory = [p.subcategory for p in pairs]
    pairs_per_sub = Counter(subcategory)
    in_val = np.zeros(len(pairs), dtype=bool)
    if val_fraction == 0.0:
        return ValSplit(train=tuple(range(len(pairs))), val=(), shared=0)

    # A group belongs to the subcategory most of its pairs have (ties: the alphabetically first).
    groups_of_sub: dict[str, list[list[int]]] = defaultdict(list)
    for group in _groups(pairs):
        counts = Counter(subcategory[i] for i in group)
        owner = min(counts, key=lambda s: (-counts[s], s))
        groups_of_sub[owner].append(group)

    rng = np.random.default_rng(seed)
    targets = {s: max(1, _round_half_up(val_fraction * n)) for s, n in pairs_per_sub.items() if n >= 2}
    for sub in sorted(groups_of_sub):
        groups = groups_of_sub[sub]
        if sub not in targets:
            continue
        taken = held = 0
        for g in rng.permutation(len(groups)):
            if held >= targets[sub] or taken == len(groups) - 1:  # always leave one group in train
                break
            in_val[groups[g]] = True
            taken, held = taken + 1, held + len(groups[g])

    # Coverage: a subcategory still without val pairs (all its pairs in one group, or in groups owned by another
    # subcategory) holds out single pairs, keeping at least one in train.
    for sub in sorted(targets):
        members = [i for i, s in enumerate(subcategory) if s == sub]
        if in_val[members].any():
            continue
        chosen = rng.choice(members, size=min(targets[sub], len(members) - 1), replace=False)
        in_val[chosen] = True

    train = tuple(int(i) for i in np.flatnonzero(~in_val))
    val = tuple(int(i) for i in np.flatnonzero(in_val))
    train_keys = {p.video for i, p in enumerate(pairs) if not in_val[i]} | \
                 {p.motion for i, p in enumerate(pairs) if not in_val[i]}
    shared = sum(1 for i in val if pairs[i].video in train_keys or pairs[i].motion in train_keys)
    if shared:
        logger.warning("validation split: %d of %d val pairs share a video or motion with train pairs "
                       "(their subcategory has no independent group to hold out)", shared, len(val))
    return ValSplit(train=train, val=val, shared=shared)
