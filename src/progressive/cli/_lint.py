"""``progressive lint``: check manifests before they reach a cluster.

Reads files and folders as ``kubectl apply -f`` does (``-f`` is accepted too, and
``-`` reads standard input) and checks every Rollout, (Cluster)AnalysisTemplate,
AnalysisRun and Experiment in them, and the references between them.

Output, one problem a line, the shape being ``FILE: FIELD PATH: MESSAGE``:

* errors go to standard output, so a script can collect them;
* warnings go to standard error, prefixed ``warning: ``;
* a summary line goes to standard error (unless ``--quiet``).

A problem in one document of a file holding several is reported at ``FILE#INDEX``
(0-based); a problem with a whole file (unreadable, not YAML) as ``FILE: MESSAGE``.

Files found in a folder that are plainly not Kubernetes manifests (``simulate``'s
metric scripts, values files) are skipped with a warning.  ``--router NAME`` accepts a
router a controller of your own implements (a Rollout naming a router progressive's
controller lacks is otherwise an error).

Exit status: 0 when there is no error (warnings allowed), 1 when there is one, 2 for a
usage error.  ``--strict`` says the files are complete: an AnalysisTemplate a Rollout
names that is not among them is then an error instead of a warning ("it must exist in
the cluster").

Only the loader and the core's readers are imported: no event loop, no terminal UI.
"""

from __future__ import annotations

from collections import Counter

import click

__all__ = ["lint"]


def _plural(count: int, word: str) -> str:
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word}{'es' if word.endswith('s') else 's'}"


@click.command()
@click.argument("paths", nargs=-1, metavar="FILE_OR_DIR...")
@click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    metavar="FILE",
    help="A file or folder to check (may be repeated; '-' reads standard input).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="The files are complete: an analysis template that is not in them is an error.",
)
@click.option(
    "--router",
    "routers",
    multiple=True,
    metavar="NAME",
    help="A trafficRouting router your own controller implements besides progressive's "
    "(repeatable; examples/bespoke has skipper).",
)
@click.option(
    "--exclude",
    "excludes",
    multiple=True,
    metavar="GLOB",
    help="Skip the files and folders matching GLOB when searching a folder (repeatable; "
    "e.g. 'examples/plugins' or '*/charts/*'). Files named on their own are always read.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only (no warnings, no summary).")
@click.pass_context
def lint(
    ctx: click.Context,
    paths: tuple[str, ...],
    filenames: tuple[str, ...],
    strict: bool,
    routers: tuple[str, ...],
    excludes: tuple[str, ...],
    quiet: bool,
) -> None:
    """Check Argo Rollouts manifests (YAML or JSON files, folders searched recursively).

    Errors are printed to standard output as `FILE: FIELD PATH: MESSAGE` lines,
    warnings to standard error prefixed `warning: `.  Exits 1 when there is an error,
    0 otherwise.
    """
    targets = [*filenames, *paths]
    if not targets:
        raise click.UsageError("give at least one file or folder to check (or -f FILE)")
    from progressive._loader import load_documents
    from progressive.routers import DeclaredRouter, default_registry

    registry = default_registry().with_routers(*(DeclaredRouter(name) for name in routers))
    documents = load_documents(
        targets, cluster_may_have_more=not strict, routers=registry, exclude=excludes
    )
    errors = warnings = 0
    for problem in documents.problems:
        if problem.severity == "error":
            errors += 1
            click.echo(str(problem))
        else:
            warnings += 1
            if not quiet:
                click.echo(f"warning: {problem}", err=True)
    if not quiet:
        kinds = Counter(d.kind for d in documents.documents if d.kind)
        objects = ", ".join(_plural(n, kind) for kind, n in sorted(kinds.items()))
        checked = _plural(len(documents.files), "file") + (f" ({objects})" if objects else "")
        verdict = (
            f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
            if errors or warnings
            else "no problems"
        )
        click.echo(f"checked {checked}: {verdict}", err=True)
    ctx.exit(1 if errors else 0)
