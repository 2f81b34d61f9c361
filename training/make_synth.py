#!/usr/bin/env python
"""Generate ViMo-Synth, the synthetic stand-in for ViMo, in ViMo's exact layout (hero_model/synth/dataset.py).

    python training/make_synth.py --out data/vimo_synth --pairs 1000 --seed 0
    python training/make_synth.py --out data/vimo_synth_unseen --pairs 1000 --seed 0 --unseen default
    python training/make_synth.py --contact-sheet docs/img/vimo_synth_contact_sheet.png --seed 0
    python training/make_synth.py --out data/vimo_synth --pairs-per-video 2   # add train_t2.txt (ViMo-T2)
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from hero_model.synth import taxonomy  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="output dataset directory")
    parser.add_argument("--pairs", type=int, default=1000, help="number of video-motion pairs (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--unseen", nargs="*", default=[], metavar="SUBCAT",
                        help="subcategories held out into test_unseen.txt; 'default' = the taxonomy's Unseen set "
                             f"({', '.join(taxonomy.DEFAULT_UNSEEN)})")
    parser.add_argument("--subcategories", nargs="+", default=None, metavar="SUBCAT",
                        help="generate only these subcategories (default: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: all cores); the output does not depend on it")
    parser.add_argument("--size", type=int, default=224, help="frame side in pixels (default 224)")
    parser.add_argument("--fps", type=int, default=20, help="video frame rate (default 20)")
    parser.add_argument("--no-noise", action="store_true", help="no pixel noise (exact-comparison experiments)")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous ViMo-Synth set in --out")
    parser.add_argument("--contact-sheet", type=Path, metavar="PNG",
                        help="only render a contact sheet of a few frames per subcategory to this PNG")
    parser.add_argument("--sheet-layout", choices=("readme", "full"), default="readme",
                        help="readme: one row per broad category; full: one row per subcategory")
    parser.add_argument("--pairs-per-video", type=int, metavar="K",
                        help="only write --out's train_tK.txt: every training video of that existing dataset paired "
                             "with K motions (ViMo-T2/T3, paper supp. Table 7; training: data.pairs_per_video=K)")
    parser.add_argument("--list", action="store_true", help="print the taxonomy table and exit")
    args = parser.parse_args(argv)
    if not (args.list or args.contact_sheet or args.out):
        parser.error("give --out DIR (or --contact-sheet PNG, or --list)")
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print(taxonomy.markdown_table())
        return 0
    if args.contact_sheet:
        from hero_model.synth.preview import contact_sheet

        contact_sheet(args.contact_sheet, seed=args.seed, layout=args.sheet_layout, size=args.size)
        print(f"wrote {args.contact_sheet}")
        return 0
    if args.pairs_per_video is not None:
        from hero_model.synth.pairing import write_more_pairs

        try:
            path = write_more_pairs(args.out, args.pairs_per_video, seed=args.seed, workers=args.workers)
        except (ValueError, FileNotFoundError) as exc:
            print(f"make_synth: error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {path}")
        return 0
    from hero_model.synth.dataset import SynthConfig, make_dataset

    unseen = list(taxonomy.DEFAULT_UNSEEN) if args.unseen == ["default"] else args.unseen
    subcategories = tuple(args.subcategories) if args.subcategories else tuple(s.name for s in taxonomy.SUBCATEGORIES)
    try:
        config = SynthConfig(pairs=args.pairs, seed=args.seed, unseen=tuple(unseen), subcategories=subcategories,
                             size=args.size, fps=args.fps, noise=not args.no_noise)
        meta = make_dataset(config, args.out, workers=args.workers, overwrite=args.overwrite)
    except (ValueError, KeyError, FileExistsError) as exc:
        print(f"make_synth: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {meta['counts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
