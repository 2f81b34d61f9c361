"""Files of the `mjlab` wheel (robot MJCFs and meshes, Apache-2.0), found without importing mjlab: its import
pulls heavy dependencies the project never needs (reference.md section 8). Used by hero_model.retarget (robot
YAML `mjcf: mjlab:<path>`) and hero_model.sim."""
from __future__ import annotations

import importlib.util
from pathlib import Path

INSTALL_HINT = "pip install --no-deps mjlab==1.6.0"
G1_MJCF = "asset_zoo/robots/unitree_g1/xmls/g1.xml"


def mjlab_file(relative: str) -> Path:
    """Path of `relative` inside the installed mjlab package; FileNotFoundError naming what is missing."""
    spec = importlib.util.find_spec("mjlab")                      # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the mjlab package is not installed ({INSTALL_HINT}); it carries the robot models")
    for location in spec.submodule_search_locations:
        path = Path(location) / relative
        if path.is_file():
            return path
    raise FileNotFoundError(f"MJCF file not found: mjlab is installed at {list(spec.submodule_search_locations)} "
                            f"but has no {relative}")
