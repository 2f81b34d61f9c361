"""Results in the paper's table formats (Tables 1-2, supp. Tables 4-6) as row lists and Markdown.

Input: {split: {method: {group: row}}} where a row holds fid, fid_ci, diversity, diversity_ci, multimodality,
multimodality_ci, plausibility, plausibility_ci (None where a metric does not apply) -- what Protocol returns --
with the real motions under the method name "Real".
"""
from __future__ import annotations

from typing import Any

from ..synth import taxonomy
from .protocol import ALL, BROAD_PREFIX, REAL, SUB_PREFIX

METRICS = ("fid", "diversity", "multimodality", "plausibility")
HEADER = ("FID↓", "Diversity→", "MModality↑", "Plausibility↑")
BROAD_ORDER = ("scene-human", "animal-human", "human-human")           # supp. Table 4's row order
EMOTION_ROWS = (("walk_towards_angry", "Angrily"), ("walk_towards_happy", "Happily"),
                ("walk_towards_neutral", "Expressionlessly"))        # supp. Table 5's row order


def _cell(row: dict[str, Any], metric: str) -> str:
    value, ci = row.get(metric), row.get(metric + "_ci")
    if value is None:
        return "-"
    return f"{value:.3f} ± {ci:.3f}" if ci is not None else f"{value:.3f}"


def _row(label: str, method: str, group: str, metrics_row: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "method": method, "group": group,
            **{k: metrics_row.get(k) for m in METRICS for k in (m, m + "_ci")},
            **({"reactions": metrics_row["reactions"]} if "reactions" in metrics_row else {})}


def _title(broad: str) -> str:
    return "-".join(part.capitalize() for part in broad.split("-"))   # human-human -> Human-Human


def _subcategory_order(groups: dict[str, Any]) -> list[str]:
    """The "sub:" groups present, in supp. Table 4's broad-category order and the taxonomy's order within one;
    subcategories the taxonomy does not know (a real ViMo split) follow by name."""
    present = {g[len(SUB_PREFIX):] for g in groups if g.startswith(SUB_PREFIX)}
    known = [s.name for b in BROAD_ORDER for s in taxonomy.SUBCATEGORIES if s.broad_category == b and s.name in present]
    return known + sorted(present - set(known))


def build_tables(results: dict[str, dict[str, dict[str, dict[str, Any]]]]) -> dict[str, list[dict[str, Any]]]:
    """{table name: rows} for the tables the data supports: "methods" (Tables 1-2, test split), "categories"
    (Table 4), "emotions" (Table 5, when the walk_towards_* subcategories are in the test split), "unseen"
    (Table 6, when a test_unseen split was evaluated), "subcategories" (every test subcategory x method, when the
    split has plausibility labels: not a table of the paper, it shows where plausibility is lost)."""
    tables: dict[str, list[dict[str, Any]]] = {}
    test = results.get("test", {})
    methods = [m for m in test if m != REAL]
    if test:
        tables["methods"] = [_row(m, m, ALL, test[m][ALL]) for m in [REAL] + methods if m in test]
        several = len(methods) > 1
        rows = []
        for broad in BROAD_ORDER:
            group = BROAD_PREFIX + broad
            if group not in test.get(REAL, {}):
                continue
            rows.append(_row(f"{_title(broad)} R.", REAL, group, test[REAL][group]))
            for m in methods:
                rows.append(_row(f"{_title(broad)}" + (f" · {m}" if several else ""), m, group, test[m][group]))
        if rows:
            tables["categories"] = rows
        rows = []
        for sub, word in EMOTION_ROWS:
            group = SUB_PREFIX + sub
            if group not in test.get(REAL, {}):
                continue
            rows.append(_row(f"{word} R.", REAL, group, test[REAL][group]))
            for m in methods:
                rows.append(_row(word + (f" · {m}" if several else ""), m, group, test[m][group]))
        if rows:
            tables["emotions"] = rows
        if test.get(REAL, {}).get(ALL, {}).get("plausibility") is not None:
            tables["subcategories"] = [_row(sub, m, SUB_PREFIX + sub, test[m][SUB_PREFIX + sub])
                                       for sub in _subcategory_order(test.get(REAL, {}))
                                       for m in [REAL] + methods if SUB_PREFIX + sub in test[m]]
    unseen = results.get("test_unseen", {})
    if unseen:
        order = [REAL] + [m for m in unseen if m != REAL]
        tables["unseen"] = [_row(m, m, ALL, unseen[m][ALL]) for m in order if m in unseen]
    return tables


TITLES = {
    "methods": ("Quantitative evaluation on the test set (paper Tables 1-2: HERO, the MoMask-style baseline and the "
                "ablations). ± is the 95% interval over the repeats; → means closer to Real is better."),
    "categories": "Results per broad category of interaction (paper supp. Table 4). R. means real motions.",
    "emotions": "“Walking towards” with different emotions (paper supp. Table 5). R. means real motions.",
    "unseen": "Seen → Unseen: models trained on the Seen subcategories, evaluated on the Unseen ones (supp. Table 6).",
    "subcategories": ("Plausibility per test subcategory (not a table of the paper: where the plausible reactions are "
                      "lost; FID and Diversity per subcategory are in the JSON's \"groups\"). ± is the 95% interval."),
}
FIRST_COLUMN = {"methods": "Method", "categories": "Category", "emotions": "Category", "unseen": "Method"}


def _most_implausible(row: dict[str, Any], plausible: tuple[str, ...]) -> str:
    """"name share" of the implausible reaction the motions were most often classified as, "-" if none."""
    counts = row.get("reactions") or {}
    wrong = {k: v for k, v in counts.items() if k not in plausible}
    if not wrong:
        return "-"
    top = max(wrong, key=lambda k: (wrong[k], k))
    return f"{top} {wrong[top] / sum(counts.values()):.2f}"


def _pivot_table(name: str, rows: list[dict[str, Any]]) -> str:
    """Rows of one subcategory x method each -> one line per subcategory, one plausibility column per method, and
    (when the rows hold classified-reaction counts) the implausible reaction the first model's motions most often
    were, with its share of that subcategory's generations."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    first = next((m for m in methods if m != REAL), None)
    confusion = first is not None and any("reactions" in r for r in rows if r["method"] == first)
    head = ["Subcategory", "Broad category", *methods] + ([f"{first}: most frequent implausible"] if confusion else [])
    lines = [f"**{TITLES.get(name, name)}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for sub in dict.fromkeys(r["label"] for r in rows):
        by_method = {r["method"]: r for r in rows if r["label"] == sub}
        row = taxonomy.BY_NAME.get(sub)
        cells = [sub, row.broad_category if row else "-",
                 *(_cell(by_method[m], "plausibility") if m in by_method else "-" for m in methods)]
        if confusion:
            cells.append(_most_implausible(by_method[first], row.reactions) if row and first in by_method else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_table(name: str, rows: list[dict[str, Any]]) -> str:
    if name == "subcategories":
        return _pivot_table(name, rows)
    head = [FIRST_COLUMN.get(name, "Row"), *HEADER]
    lines = [f"**{TITLES.get(name, name)}**", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join([row["label"], *(_cell(row, m) for m in METRICS)]) + " |")
    return "\n".join(lines)


def markdown(tables: dict[str, list[dict[str, Any]]], notes: str = "") -> str:
    """All tables as one Markdown document (notes, if given, go first)."""
    parts = [notes.strip()] if notes.strip() else []
    parts += [markdown_table(name, rows) for name, rows in tables.items()]
    return "\n\n".join(parts) + "\n"
