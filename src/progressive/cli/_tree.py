"""Drawing ``get rollout`` (header and tree) and ``list rollouts`` as text.

The layout is Argo's plugin's: ``Label:`` lines padded to one column, then a tree whose
columns are ``NAME KIND STATUS AGE INFO`` separated by two spaces (Go's tabwriter), and
``├──`` / ``└──`` / ``│  `` branches.  Everything is built as a ``rich.text.Text``: its
``.plain`` is what a pipe or a snapshot gets, a terminal gets the same text coloured.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final

from rich.text import Text

from ._info import RolloutInfo, Summary, TreeNode

__all__ = [
    "add_field",
    "columns",
    "render_list",
    "render_rollout",
    "render_summary_line",
    "render_tree",
    "status_text",
]

_LABEL_WIDTH: Final = 17
_GAP: Final = "  "
ICON_STYLES: Final = {
    "✔": "green",
    "◌": "yellow",
    "॥": "cyan",
    "✖": "red",
    "⚠": "yellow",
    "?": "yellow",
    "•": "bright_black",
}


def status_text(icon: str, word: str) -> Text:
    """``✔ Healthy``: the icon coloured, then the word."""
    if not word:
        return Text("")
    text = Text(icon, style=ICON_STYLES.get(icon, "")) if icon else Text("")
    if icon:
        text.append(" ")
    text.append(word)
    return text


def add_field(text: Text, label: str, value: Text | str, indent: int = 0) -> None:
    """A header line: ``Label:`` padded to the value's column, then the value."""
    shown = value if isinstance(value, Text) else Text(value)
    head = " " * indent + label
    text.append(head.ljust(_LABEL_WIDTH) if shown.plain else head, style="bold")
    text.append_text(shown)
    text.append("\n")


def render_header(summary: Summary) -> Text:
    text = Text()
    add_field(text, "Name:", summary.name)
    add_field(text, "Namespace:", summary.namespace)
    add_field(text, "Status:", status_text(summary.status_icon, summary.status))
    if summary.message:
        add_field(text, "Message:", summary.message)
    add_field(text, "Strategy:", summary.strategy)
    if summary.step is not None:
        add_field(text, "Step:", summary.step, 2)
    if summary.set_weight is not None:
        add_field(text, "SetWeight:", summary.set_weight, 2)
    if summary.actual_weight is not None:
        why = f" ({summary.weight_note})" if summary.weight_note else ""
        add_field(text, "ActualWeight:", summary.actual_weight + why, 2)
    if summary.images:
        for index, (image, roles) in enumerate(summary.images):
            shown = f"{image} ({', '.join(roles)})" if roles else image
            add_field(text, "Images:" if index == 0 else "", shown)
    else:
        add_field(text, "Images:", "")
    add_field(text, "Replicas:", "")
    add_field(text, "Desired:", str(summary.desired), 2)
    add_field(text, "Current:", str(summary.current), 2)
    add_field(text, "Updated:", str(summary.updated), 2)
    add_field(text, "Ready:", str(summary.ready), 2)
    add_field(text, "Available:", str(summary.available), 2)
    return text


def _rows(node: TreeNode, prefix: str = "", child_prefix: str = "") -> Iterator[list[Text]]:
    name = Text(prefix)
    if node.icon:
        name.append(node.icon + " ")
    name.append(node.name)
    yield [
        name,
        Text("" if node.kind == "Revision" else node.kind),
        status_text(node.status_icon, node.status),
        Text(node.age),
        Text(node.info),
    ]
    for index, child in enumerate(node.children):
        last = index == len(node.children) - 1
        yield from _rows(
            child,
            child_prefix + ("└──" if last else "├──"),
            child_prefix + ("   " if last else "│  "),
        )


def columns(header: Sequence[str], rows: Sequence[Sequence[Text]]) -> Text:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    all_rows = [[Text(h) for h in header], *rows]
    widths = [max(len(row[i].plain) for row in all_rows) for i in range(len(header))]
    text = Text()
    for row in all_rows:
        line = Text()
        for i, cell in enumerate(row):
            line.append_text(cell)
            if i < len(row) - 1:
                line.append(" " * (widths[i] - len(cell.plain)) + _GAP)
        line.rstrip()
        text.append_text(line)
        text.append("\n")
    return text


def render_tree(tree: TreeNode) -> Text:
    return columns(("NAME", "KIND", "STATUS", "AGE", "INFO"), list(_rows(tree)))


def render_rollout(info: RolloutInfo) -> Text:
    """The header, a blank line, and the tree."""
    text = render_header(info.summary)
    text.append("\n")
    text.append_text(render_tree(info.tree))
    return text


def render_list(summaries: Sequence[Summary], *, all_namespaces: bool, wide: bool) -> Text:
    header = ["NAME", "STRATEGY", "STATUS", "STEP", "SET-WEIGHT", "READY", "DESIRED"]
    header += ["UP-TO-DATE", "AVAILABLE"]
    if wide:
        header += ["ACTUAL-WEIGHT", "AGE", "MESSAGE"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows: list[list[Text]] = []
    for s in summaries:
        row = [
            Text(s.name),
            Text(s.strategy),
            status_text(s.status_icon, s.status),
            Text(s.step or "-"),
            Text(s.set_weight if s.set_weight is not None else "-"),
            Text(f"{s.ready}/{s.desired}"),
            Text(str(s.desired)),
            Text(str(s.updated)),
            Text(str(s.available)),
        ]
        if wide:
            row += [
                Text(s.actual_weight if s.actual_weight is not None else "-"),
                Text(s.age),
                Text(s.message),
            ]
        if all_namespaces:
            row.insert(0, Text(s.namespace))
        rows.append(row)
    return columns(header, rows)


def render_summary_line(summary: Summary) -> Text:
    """One line: ``◌ Progressing - message  step 1/8  weight 20%  updated 1/5  available 5/5``;
    an actual weight that is not the set one reads ``weight 33% actual, 20% set (why)``."""
    text = status_text(summary.status_icon, summary.status)
    if summary.message:
        text.append(f" - {summary.message}")
    if summary.step is not None:
        text.append(f"  step {summary.step}")
    if summary.set_weight is not None:
        if summary.actual_weight in (None, summary.set_weight):
            text.append(f"  weight {summary.set_weight}%")
        else:
            text.append(f"  weight {summary.actual_weight}% actual, {summary.set_weight}% set")
            if summary.weight_note:
                text.append(f" ({summary.weight_note})")
    text.append(
        f"  updated {summary.updated}/{summary.desired}"
        f"  available {summary.available}/{summary.desired}"
    )
    return text
