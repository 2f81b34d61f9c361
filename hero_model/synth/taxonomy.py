"""ViMo-Synth's interaction taxonomy: one table from subcategory to broad category, actor, emotion and the
reactions a person could plausibly show (paper Sec. 4 and Fig. 3: subcategories in three broad categories; supp.
Table 5: the same action with different emotions calls for different reactions; supp. Table 6: Seen/Unseen split).

The dataset generator samples from this table and evaluation groups results by it (per broad category, per emotion,
seen vs unseen), so it is the single source of truth. Reaction names are `hero_model.synth.motions.REACTIONS`;
`check_reactions` verifies that at generation time.
"""
from __future__ import annotations

from dataclasses import dataclass

BROAD_CATEGORIES = ("human-human", "animal-human", "scene-human")
ACTOR_KINDS = ("human", "dog", "bird", "ball", "car", "falling_object")
EMOTIONS = ("neutral", "happy", "angry", "none")  # "none": no face in the clip (animals, objects)


@dataclass(frozen=True)
class Subcategory:
    """One row of the taxonomy.

    name: subcategory id, used in file names (videos/<name>/<name>-NNNN.mp4).
    broad_category: one of BROAD_CATEGORIES.
    actor_kind: what the video shows, one of ACTOR_KINDS.
    action: the actor's action (for humans a name in motions.ACTOR_ACTIONS; otherwise a scene script name).
    emotions: facial expressions the actor may show (sampled uniformly); ("none",) when there is no face.
    reactions: plausible reactions of the camera wearer (motions.REACTIONS), sampled per pair.
    unseen: member of the default Unseen set (supp. Table 6: trained on Seen, evaluated on Unseen).
    description: one line for documentation and contact sheets.
    """

    name: str
    broad_category: str
    actor_kind: str
    action: str
    emotions: tuple[str, ...]
    reactions: tuple[str, ...]
    unseen: bool
    description: str

    def __post_init__(self) -> None:
        if self.broad_category not in BROAD_CATEGORIES:
            raise ValueError(f"Subcategory {self.name}: broad_category must be one of {BROAD_CATEGORIES}, "
                             f"got {self.broad_category!r}")
        if self.actor_kind not in ACTOR_KINDS:
            raise ValueError(f"Subcategory {self.name}: actor_kind must be one of {ACTOR_KINDS}, "
                             f"got {self.actor_kind!r}")
        if not self.emotions or any(e not in EMOTIONS for e in self.emotions):
            raise ValueError(f"Subcategory {self.name}: emotions must be a non-empty subset of {EMOTIONS}, "
                             f"got {self.emotions}")
        if (self.actor_kind == "human") == ("none" in self.emotions):
            raise ValueError(f"Subcategory {self.name}: human actors need facial emotions and only they have them, "
                             f"got actor_kind={self.actor_kind!r}, emotions={self.emotions}")
        if not 1 <= len(self.reactions) <= 4 or len(set(self.reactions)) != len(self.reactions):
            raise ValueError(f"Subcategory {self.name}: reactions must be 1-4 distinct names, got {self.reactions}")
        if "-" in self.name or "/" in self.name or " " in self.name:
            raise ValueError(f"Subcategory name {self.name!r} must not contain '-', '/' or spaces (file names)")


_S = Subcategory
SUBCATEGORIES: tuple[Subcategory, ...] = (
    # human-human: daily socialising
    _S("wave", "human-human", "human", "wave", ("happy", "neutral"), ("wave_back",), False,
       "a person waves at you"),
    _S("handshake_offer", "human-human", "human", "handshake_offer", ("happy", "neutral"), ("shake_hands",), False,
       "a person steps up and offers a handshake"),
    _S("hug_approach", "human-human", "human", "hug_approach", ("happy",), ("hug",), False,
       "a person approaches with open arms"),
    _S("point", "human-human", "human", "point", ("neutral", "happy"), ("turn_away", "point_back"), False,
       "a person points to the side (look where they point, or point too)"),
    # human-human: the same action with three emotions (supp. Table 5)
    _S("walk_towards_neutral", "human-human", "human", "walk_towards", ("neutral",), ("stay_still",), False,
       "a person walks towards you expressionlessly"),
    _S("walk_towards_happy", "human-human", "human", "walk_towards", ("happy",),
       ("wave_back", "shake_hands", "hug"), False, "a person walks towards you happily"),
    _S("walk_towards_angry", "human-human", "human", "walk_towards", ("angry",),
       ("step_back", "turn_away", "block_arms"), False, "a person walks towards you angrily"),
    # human-human: physical confrontation
    _S("punch", "human-human", "human", "punch", ("angry",), ("block_arms", "dodge_left", "dodge_right"), False,
       "a person throws a punch at you"),
    _S("push", "human-human", "human", "push", ("angry", "neutral"), ("step_back", "block_arms"), False,
       "a person shoves you"),
    _S("kick", "human-human", "human", "kick", ("angry",), ("jump_aside", "step_back"), True,
       "a person kicks at you"),
    # human-human: sports
    _S("throw", "human-human", "human", "throw", ("neutral", "happy"), ("catch",), False,
       "a person throws a ball to you"),
    # animal-human
    _S("dog_run_at_you", "animal-human", "dog", "run_at_you", ("none",), ("jump_aside", "step_back"), False,
       "a dog runs straight at you"),
    _S("dog_jump_up", "animal-human", "dog", "jump_up", ("none",), ("step_back", "block_arms"), True,
       "a dog trots up and jumps up at you"),
    _S("bird_swoop", "animal-human", "bird", "swoop", ("none",), ("duck",), False,
       "a bird swoops down at your head"),
    # scene-human
    _S("ball_flying", "scene-human", "ball", "fly_at_you", ("none",), ("catch", "duck", "dodge_left", "dodge_right"),
       False, "a ball flies at you"),
    _S("car_approaching", "scene-human", "car", "approach", ("none",), ("jump_aside", "step_back"), False,
       "a car drives towards you"),
    _S("object_falling", "scene-human", "falling_object", "fall", ("none",), ("step_back", "crouch_protect"), True,
       "something falls from above in front of you"),
)

BY_NAME: dict[str, Subcategory] = {s.name: s for s in SUBCATEGORIES}
if len(BY_NAME) != len(SUBCATEGORIES):
    raise RuntimeError("taxonomy: duplicate subcategory names")

DEFAULT_UNSEEN: tuple[str, ...] = tuple(s.name for s in SUBCATEGORIES if s.unseen)


def get(name: str) -> Subcategory:
    """The row of `name`; a clear error listing the valid names otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown subcategory {name!r}; known: {', '.join(BY_NAME)}") from None


def by_broad_category() -> dict[str, list[str]]:
    """{broad category: [subcategory names in table order]}."""
    return {b: [s.name for s in SUBCATEGORIES if s.broad_category == b] for b in BROAD_CATEGORIES}


def check_reactions(available: tuple[str, ...] | list[str]) -> None:
    """Raise if a table reaction is missing from the motion library (names must match exactly)."""
    known = set(available)
    missing = sorted({r for s in SUBCATEGORIES for r in s.reactions if r not in known})
    if missing:
        raise ValueError(f"taxonomy reactions missing from the motion library: {missing}; "
                         f"the library has: {sorted(known)}")


def markdown_table() -> str:
    """The taxonomy as a Markdown table (README, reports)."""
    lines = ["| subcategory | broad category | actor / action | emotions | plausible reactions | default split |",
             "|---|---|---|---|---|---|"]
    for s in SUBCATEGORIES:
        lines.append(f"| {s.name} | {s.broad_category} | {s.actor_kind} / {s.action} | {', '.join(s.emotions)} | "
                     f"{', '.join(s.reactions)} | {'unseen' if s.unseen else 'seen'} |")
    return "\n".join(lines)
