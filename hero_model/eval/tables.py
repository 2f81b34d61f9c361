"""Results in the paper's table formats (Tables 1-2, supp. Tables 4-6) as row lists and Markdown.

Input: {split: {method: {group: row}}} where a row holds fid, fid_ci, diversity, diversity_ci, multimodality,
multimodality_ci, plausibility, plausibility_ci (None where a metric does not apply) -- what Protocol returns --
with the real motions under the method name "Real".
"""
from __future__ import annotations

from typing import Any

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
            **{k: metrics_row.get(k) for m in METRICS for k in (m, m + "_ci")}}


def _title(broad: str) -> str:
    return "-".join(part.capitalize() for part in broad.split("-"))   # human-human -> Human-Human


def build_tables(results: dict[str, dict[str, dict[str, dict[str, Any]]]]) -> dict[str, list[dict[str, Any]]]:
    """{table name: rows} for the tables the data supports: "methods" (Tables 1-2, test split), "categories"
    (Table 4), "emotions" (Table 5, when the walk_towards_* subcategories are in the test split), "unseen"
    (Table 6, when a test_unseen split was evaluated)."""
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
}
FIRST_COLUMN = {"methods": "Method", "categories": "Category", "emotions": "Category", "unseen": "Method"}


def markdown_table(name: str, rows: list[dict[str, Any]]) -> str:
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
