"""Loading manifests from files: the I/O side of reading Rollouts and what they refer to.

:func:`load_documents` reads YAML (and JSON) files and folders, the way
``kubectl apply -f`` does, and never raises for bad content: an unreadable file, a YAML
syntax error, bytes that are not UTF-8, a document that is not an object, an object
with errors -- each becomes a :class:`Problem` (a file and a
:class:`~progressive.core.FieldProblem`), listed in file order in
:attr:`Documents.problems`, next to everything that could be read.

Where a problem is:

* about a file as a whole (``cannot read: ...``, a YAML syntax error with its
  ``line L, column C``): the error's path is the file name;
* about one document of a file (``must be an object ...``): its path is the document's
  *location*, the file name, followed by ``#<index>`` (the document's 0-based position
  in the YAML stream) when the file holds several documents;
* about a field of an object: its path is the field path inside that object
  (``spec.strategy.canary.steps[2].setWeight``), and ``Problem.document`` says which
  document of a multi-document file it is in.

``str(problem)`` renders any of them as one line, ``LOCATION: PATH: MESSAGE`` (the
path is left out when it is the location itself), which is what ``progressive lint``
prints.

Objects are routed by kind: Rollouts, (Cluster)AnalysisTemplates and AnalysisRuns are
read into their models (``argoproj.io/v1alpha1`` or ``progressive.dev/v1alpha1``);
Experiments and the kinds a Rollout refers to (Services, Ingresses, Istio, SMI and
Gateway API routes, Deployments, ConfigMaps, Secrets) are kept as plain data; any other
kind is kept too, with a warning.  A Rollout's traffic routing is checked against the
router registry (:meth:`progressive.routers.RouterRegistry.validate`, the check the
controller makes too): a router no one implements, or one asked for what it cannot
express, is an error.  Then the references between them are checked (see
:mod:`progressive.core._references`).

Files are read and their YAML or JSON parsed by :mod:`progressive._safe_load`, which
bounds what a file can cost: regular files only, at most
:data:`~progressive._safe_load.MAX_FILE_BYTES` each, documents nested or aliased
beyond the bounds refused, keys repeated in one mapping refused (YAML and JSON alike).
Everything here is linear in the number of documents: 40,000 documents in one file
read in seconds (``bench/loader.py``).
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import attrs

from ._safe_load import Parsed, Unreadable, parse, read_file, read_stream
from .core._analysis import AnalysisRun, AnalysisTemplate
from .core._names import API_GROUPS, BUILT_IN_PROVIDERS
from .core._references import TemplatePool, check_references, check_template_references
from .core._rollout import Rollout, read_rollout
from .errors import FieldProblem, Severity
from .routers import ObjectRef, RouterRegistry, default_registry, read_objects
from .steps import default_registry as default_steps

if TYPE_CHECKING:
    from .metrics import ProviderRegistry

__all__ = [
    "MANIFEST_SUFFIXES",
    "RAW_KINDS",
    "Document",
    "Documents",
    "Problem",
    "load_documents",
    "parse_documents",
]

#: Files a folder is searched for (recursively, in sorted order).
MANIFEST_SUFFIXES: Final = (".yaml", ".yml", ".json")
#: The top-level fields of which a Kubernetes manifest has at least one.
MANIFEST_FIELDS: Final = ("apiVersion", "kind", "metadata", "spec")
NOT_A_MANIFEST: Final = (
    "not a Kubernetes manifest (no document has apiVersion, kind, metadata or spec): skipped"
)
#: Kinds read into models, all in the Argo Rollouts (or progressive.dev) API group.
MODEL_KINDS: Final = frozenset(
    {"Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun"}
)
#: Kinds a Rollout may refer to, kept as plain data.
RAW_KINDS: Final = frozenset(
    {
        "Experiment",
        "Service",
        "Ingress",
        "VirtualService",
        "DestinationRule",
        "TrafficSplit",
        "HTTPRoute",
        "GRPCRoute",
        "Deployment",
        "ConfigMap",
        "Secret",
    }
)
STDIN: Final = "-"
STDIN_NAME: Final = "<stdin>"


# -- results -----------------------------------------------------------------------------


@attrs.frozen
class Problem:
    """One error or warning, in ``file``.

    ``document`` is the 0-based index of the document it is in, set only when the file
    holds several documents (otherwise the file name alone says where it is).
    """

    file: str
    error: FieldProblem
    document: int | None = None

    @property
    def severity(self) -> Severity:
        return self.error.severity

    @property
    def location(self) -> str:
        """The file, or ``file#index`` for a document of a multi-document file."""
        return self.file if self.document is None else f"{self.file}#{self.document}"

    def __str__(self) -> str:
        location, path = self.location, self.error.path
        if not path or path in (self.file, location):
            return f"{location}: {self.error.message}"
        return f"{location}: {path}: {self.error.message}"


@attrs.frozen
class Document:
    """One object read from a file.

    ``parsed`` is the model (:class:`~progressive.core.Rollout`, ``AnalysisTemplate``,
    ``AnalysisRun``) when the object is one of those kinds and was read without error,
    else None.  (Problems with what it refers to, such as a missing template, are listed
    in :attr:`Documents.problems` but do not unset it.)  ``raw`` is the object as loaded.
    ``item`` is set for the objects of a ``kind: List`` (their index in ``items``).
    """

    file: str
    index: int
    kind: str
    api_version: str
    name: str
    namespace: str | None
    raw: Mapping[str, Any] = attrs.field(repr=False)
    item: int | None = None
    parsed: object = attrs.field(default=None, repr=False)


@attrs.frozen
class Documents:
    """Everything read from some files: the objects, and every problem found."""

    files: tuple[str, ...] = ()
    documents: tuple[Document, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def of_kind(self, *kinds: str) -> list[Document]:
        return [d for d in self.documents if d.kind in kinds]

    # -- kinds read into models (only those without errors) ------------------------------
    @property
    def rollouts(self) -> list[Rollout]:
        return [d.parsed for d in self.of_kind("Rollout") if isinstance(d.parsed, Rollout)]

    @property
    def analysis_templates(self) -> list[AnalysisTemplate]:
        """Namespaced AnalysisTemplates."""
        from .core._analysis import AnalysisTemplate

        docs = self.of_kind("AnalysisTemplate")
        return [d.parsed for d in docs if isinstance(d.parsed, AnalysisTemplate)]

    @property
    def cluster_analysis_templates(self) -> list[AnalysisTemplate]:
        from .core._analysis import AnalysisTemplate

        docs = self.of_kind("ClusterAnalysisTemplate")
        return [d.parsed for d in docs if isinstance(d.parsed, AnalysisTemplate)]

    @property
    def analysis_runs(self) -> list[AnalysisRun]:
        from .core._analysis import AnalysisRun

        docs = self.of_kind("AnalysisRun")
        return [d.parsed for d in docs if isinstance(d.parsed, AnalysisRun)]

    # -- kinds kept as plain data ----------------------------------------------------------
    @property
    def experiments(self) -> list[Document]:
        return self.of_kind("Experiment")

    @property
    def services(self) -> list[Document]:
        return self.of_kind("Service")

    @property
    def ingresses(self) -> list[Document]:
        return self.of_kind("Ingress")

    @property
    def virtual_services(self) -> list[Document]:
        return self.of_kind("VirtualService")

    @property
    def destination_rules(self) -> list[Document]:
        return self.of_kind("DestinationRule")

    @property
    def traffic_splits(self) -> list[Document]:
        return self.of_kind("TrafficSplit")

    @property
    def http_routes(self) -> list[Document]:
        return self.of_kind("HTTPRoute")

    @property
    def grpc_routes(self) -> list[Document]:
        return self.of_kind("GRPCRoute")

    @property
    def deployments(self) -> list[Document]:
        return self.of_kind("Deployment")

    @property
    def config_maps(self) -> list[Document]:
        return self.of_kind("ConfigMap")

    @property
    def secrets(self) -> list[Document]:
        return self.of_kind("Secret")


# -- entry points ------------------------------------------------------------------------


def load_documents(
    paths: Iterable[str | Path],
    *,
    cluster_may_have_more: bool = True,
    routers: RouterRegistry | None = None,
    exclude: Iterable[str] = (),
) -> Documents:
    """Read manifest files and folders; never raises for bad content.

    Args:
        paths: files (read whatever their suffix), folders (searched recursively for
            ``*.yaml``, ``*.yml`` and ``*.json``, in sorted order, skipping names that
            start with a dot), or ``"-"`` for standard input (named ``<stdin>``).  A file
            named twice is read once.  A file found in a folder that is plainly not a
            Kubernetes manifest (no document has any of ``apiVersion``, ``kind``,
            ``metadata``, ``spec``: a values file, ``simulate``'s metric scripts) is
            skipped with a warning; named on its own, it is read, and its errors count.
        cluster_may_have_more: whether objects a Rollout refers to may exist in the
            cluster without being in these files; if so a missing AnalysisTemplate is a
            warning, else an error.  Missing Services are always warnings.
        routers: the routers the controller has (default: progressive's and the
            installed plugins', :func:`progressive.routers.default_registry`; a bespoke
            controller adds its own); a Rollout configuring any other router, or asking
            one for what it cannot express, is an error.
        exclude: glob patterns (``fnmatch``, ``*`` matching ``/`` too) of the files and
            folders a folder's search skips, matched against their path as found
            (``examples/plugins`` skips that folder and everything under it when
            ``examples`` is searched).  Files named on their own are always read.
    """
    builder = _DocumentsBuilder(routers)
    seen: set[str] = set()
    patterns = tuple(p.rstrip("/") or p for p in exclude)
    for given in paths:
        for file, source, found in _expand(given, patterns):
            key = os.path.realpath(source) if isinstance(source, str) else file
            if key in seen:
                continue
            seen.add(key)
            if isinstance(source, _NotRead):
                builder.add_file_error(file, source.message, source.severity)
                continue
            data: str | bytes
            try:
                if source is None:
                    stdin = sys.stdin
                    data = read_stream(stdin.buffer if hasattr(stdin, "buffer") else stdin)
                else:
                    data = read_file(source)
            except Unreadable as exc:
                builder.add_file_error(file, exc.message)
                continue
            builder.add_source(file, data, found_in_folder=found)
    return builder.finish(cluster_may_have_more)


def parse_documents(
    sources: Iterable[tuple[str, str | bytes]],
    *,
    cluster_may_have_more: bool = True,
    routers: RouterRegistry | None = None,
) -> Documents:
    """Like :func:`load_documents`, for text already in memory: ``(name, content)`` pairs.

    Content is YAML, or JSON when the name ends with ``.json``.
    """
    builder = _DocumentsBuilder(routers)
    for file, content in sources:
        builder.add_source(file, content)
    return builder.finish(cluster_may_have_more)


# -- finding files -----------------------------------------------------------------------


@attrs.frozen
class _NotRead:
    """A path argument that gives a problem instead of a file to read."""

    message: str
    severity: Severity = "error"


def _excluded(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(os.path.normpath(path), p) for p in patterns)


def _expand(
    given: str | Path, exclude: tuple[str, ...] = ()
) -> Iterator[tuple[str, str | _NotRead | None, bool]]:
    """``(file name, path to read, found in a folder)`` for a path argument; a None
    path reads standard input.  A folder's search skips what ``exclude`` matches."""
    if str(given) == STDIN:
        yield STDIN_NAME, None, False
        return
    path = Path(given)
    name = str(path)
    try:
        is_dir = path.is_dir()
    except OSError as exc:  # e.g. a name too long
        yield name, _NotRead(f"cannot read: {exc.strerror or exc}"), False
        return
    if not is_dir:
        yield name, name, False
        return
    found: list[tuple[tuple[str, ...], str]] = []
    failures: list[tuple[str, str]] = []

    def failed(exc: OSError) -> None:
        failures.append((str(exc.filename or name), f"cannot read: {exc.strerror or exc}"))

    for folder, dirs, files in os.walk(path, onerror=failed):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and not _excluded(os.path.join(folder, d), exclude)
        )
        for file in files:
            if file.startswith(".") or not file.endswith(MANIFEST_SUFFIXES):
                continue
            full = os.path.join(folder, file)
            if _excluded(full, exclude):
                continue
            found.append((Path(os.path.relpath(full, path)).parts, full))
    for where, message in failures:
        yield where, _NotRead(message), False
    if not found and not failures:
        yield (
            name,
            _NotRead(
                f"no {', '.join(MANIFEST_SUFFIXES[:-1])} or {MANIFEST_SUFFIXES[-1]} files found",
                "warning",
            ),
            False,
        )
    for _, full in sorted(found):
        yield full, full, True


# -- reading objects ---------------------------------------------------------------------


Reader = Callable[[object], "tuple[object | None, list[FieldProblem]]"]


def _reader(kind: str) -> Reader | None:
    """The reader of a kind in :data:`MODEL_KINDS` (analysis imported on first use)."""
    if kind == "Rollout":
        return read_rollout
    if kind in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
        from .core._analysis import read_analysis_template

        return read_analysis_template
    if kind == "AnalysisRun":
        from .core._analysis import read_analysis_run

        return read_analysis_run
    return None


@attrs.define
class _Entry:
    """A document (or List item) while the files are being read."""

    index: int
    item: int | None = None
    document: Document | None = None
    errors: list[FieldProblem] = attrs.Factory(list)  # paths inside the object
    doc_errors: list[tuple[str, Severity]] = attrs.Factory(list)  # about the document
    model: object = None  # read even with errors, for the reference checks
    check_references: bool = False
    unread: FieldProblem | None = None  # "not a kind progressive reads", until finish()

    def error(self, path: str, message: str, severity: Severity = "error") -> None:
        if self.item is not None:
            path = f"items[{self.item}].{path}" if path else f"items[{self.item}]"
        if path:
            self.errors.append(FieldProblem(path, message, severity))
        else:
            self.doc_errors.append((message, severity))


@attrs.define
class _File:
    name: str
    entries: list[_Entry] = attrs.Factory(list)
    errors: list[FieldProblem] = attrs.Factory(list)

    @property
    def multi(self) -> bool:
        # entries are added in document order (a List's items share its index)
        return bool(self.entries) and self.entries[0].index != self.entries[-1].index

    def location(self, index: int) -> str:
        return f"{self.name}#{index}" if self.multi else self.name


class _DocumentsBuilder:
    def __init__(self, routers: RouterRegistry | None) -> None:
        self.files: list[_File] = []
        self.routers = default_registry() if routers is None else routers
        self.steps = default_steps()
        self.providers: ProviderRegistry | None = None  # read on the first template

    def add_file_error(self, file: str, message: str, severity: Severity = "error") -> None:
        self.files.append(_File(file, errors=[FieldProblem(file, message, severity)]))

    def add_source(self, file: str, content: str | bytes, *, found_in_folder: bool = False) -> None:
        record = _File(file)
        self.files.append(record)
        documents, stop = parse(file, content)
        if found_in_folder and stop is None and _not_a_manifest(documents):
            record.errors.append(FieldProblem(file, NOT_A_MANIFEST, "warning"))
            return
        for document in documents:
            if document.value is None:
                continue  # an empty document, as between two `---`
            entry = _Entry(document.index)
            record.entries.append(entry)
            data = document.value
            if not isinstance(data, dict):
                entry.error("", f"must be an object with apiVersion and kind, got {_type(data)}")
                continue
            for error in document.errors:
                entry.error(error.path, error.message, error.severity)
            if not document.refused:
                self._add_value(record, entry, data)
        if stop is not None:
            record.errors.append(FieldProblem(file, stop))

    def _add_value(self, record: _File, entry: _Entry, data: dict[str, Any]) -> None:
        kind = data.get("kind")
        items = data.get("items")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
            # `kubectl get ... -o yaml` writes a List; its items are the objects
            first = True
            for i, item in enumerate(items):
                item_entry = entry if first else _Entry(entry.index)
                if not first:
                    record.entries.append(item_entry)
                item_entry.item = i
                first = False
                if isinstance(item, dict):
                    self._add_object(record.name, item_entry, item)
                else:
                    item_entry.error("", f"must be an object, got {_type(item)}")
            return
        self._add_object(record.name, entry, data)

    def _add_object(self, file: str, entry: _Entry, obj: dict[str, Any]) -> None:
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        metadata = obj.get("metadata")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        name, namespace = metadata.get("name"), metadata.get("namespace")
        document = Document(
            file=file,
            index=entry.index,
            kind=kind if isinstance(kind, str) else "",
            api_version=api_version if isinstance(api_version, str) else "",
            name=name if isinstance(name, str) else "",
            namespace=namespace if isinstance(namespace, str) else None,
            raw=obj,
            item=entry.item,
        )
        entry.document = document
        if not isinstance(kind, str) or kind not in MODEL_KINDS:
            self._check_plain(entry, obj)
            return
        try:
            reader = _reader(kind)
            assert reader is not None
            model, errors = reader(obj)
        except Exception as exc:  # a bug in a reader must not stop the others
            entry.error(
                "", f"internal error while reading this {kind}: {type(exc).__name__}: {exc}"
            )
            return
        if isinstance(model, Rollout):
            # a Rollout read with errors gets the routing checks, not the routers' own
            sound = not any(e.severity == "error" for e in errors)
            check = self.routers.validate if sound else self.routers.check
            errors = [*errors, *check(model), *self.steps.validate(model)]
        elif isinstance(model, AnalysisTemplate | AnalysisRun):
            errors = [*errors, *self._check_providers(model)]
        for error in errors:
            entry.error(error.path, error.message, error.severity)
        entry.model = model
        failed = any(e.severity == "error" for e in errors)
        if not failed:
            entry.document = attrs.evolve(document, parsed=model)
        entry.check_references = model is not None and (
            not failed or (isinstance(model, Rollout) and _steps_intact(obj, model))
        )

    def _check_providers(self, model: AnalysisTemplate | AnalysisRun) -> list[FieldProblem]:
        """Each metric's provider against the registry (progressive's and the installed
        plugins' providers): ProviderRegistry.check.  Metrics of progressive's own
        providers only need no registry (which imports the HTTP clients)."""
        if all(m.provider_name in BUILT_IN_PROVIDERS for m in model.metrics):
            return []
        if self.providers is None:
            from .metrics import default_registry as default_providers

            self.providers = default_providers()
        return [
            problem
            for index, metric in enumerate(model.metrics)
            for problem in self.providers.check(metric, f"spec.metrics[{index}].provider")
        ]

    def _check_plain(self, entry: _Entry, obj: dict[str, Any]) -> None:
        """Kinds kept as plain data: the header only."""
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind is None or kind == "":
            entry.error("kind", "is required")
        elif not isinstance(kind, str):
            entry.error("kind", f"must be a string, got {_type(kind)}")
        if api_version is None or api_version == "":
            entry.error("apiVersion", "is required")
        elif not isinstance(api_version, str):
            entry.error("apiVersion", f"must be a string, got {_type(api_version)}")
        elif kind == "Experiment" and api_version not in API_GROUPS:
            entry.error(
                "apiVersion", f"must be one of {', '.join(API_GROUPS)}, got {api_version!r}"
            )
        if not isinstance(kind, str) or not kind:
            return
        if kind not in RAW_KINDS:
            import difflib

            close = difflib.get_close_matches(kind, sorted(MODEL_KINDS | RAW_KINDS), 1, 0.75)
            hint = f" (did you mean {close[0]}?)" if close else ""
            entry.error(
                "kind", f"{kind!r} is not a kind progressive reads (ignored){hint}", "warning"
            )
            entry.unread = entry.errors[-1]
            return
        metadata = obj.get("metadata")
        if not isinstance(metadata, Mapping):
            entry.error(
                "metadata",
                "is required" if metadata is None else f"must be an object, got {_type(metadata)}",
            )
            return
        name, namespace = metadata.get("name"), metadata.get("namespace")
        if not isinstance(name, str) or not name:
            if metadata.get("generateName") is None:
                entry.error(
                    "metadata.name",
                    "is required"
                    if name is None or name == ""
                    else f"must be a string, got {_type(name)}",
                )
        if namespace is not None and not isinstance(namespace, str):
            entry.error("metadata.namespace", f"must be a string, got {_type(namespace)}")

    # -- across documents --------------------------------------------------------------
    def finish(self, cluster_may_have_more: bool) -> Documents:
        entries = [e for f in self.files for e in f.entries]
        located = {id(e): f.location(e.index) for f in self.files for e in f.entries}
        self._check_duplicates(entries, located)
        self._check_references(entries, cluster_may_have_more)
        self._routed_kinds(entries)
        documents: list[Document] = []
        problems: list[Problem] = []
        for record in self.files:
            multi = record.multi
            for entry in record.entries:
                document = entry.index if multi else None
                location = record.location(entry.index)
                if entry.document is not None:
                    documents.append(entry.document)
                for message, severity in entry.doc_errors:
                    problems.append(
                        Problem(record.name, FieldProblem(location, message, severity), document)
                    )
                problems.extend(Problem(record.name, e, document) for e in entry.errors)
            problems.extend(Problem(record.name, e) for e in record.errors)
        return Documents(tuple(f.name for f in self.files), tuple(documents), tuple(problems))

    def _routed_kinds(self, entries: list[_Entry]) -> None:
        """A kind a loaded Rollout's routers read and write (a plugin router's
        HTTPProxy) is one progressive reads: no warning for it."""
        kinds: set[str] = set()
        loaded = {
            (str(doc.raw.get("apiVersion", "")).rpartition("/")[0], doc.kind, doc.name): doc.raw
            for e in entries
            if (doc := e.document) is not None
        }

        def get(ref: ObjectRef) -> Mapping[str, Any] | None:  # the files' objects a router names
            return loaded.get((ref.group, ref.kind, ref.name))

        for entry in entries:
            if isinstance(entry.model, Rollout) and entry.check_references:
                try:
                    for router in self.routers.routers_of(entry.model):
                        kinds.update(ref.kind for ref in read_objects(router, entry.model, get))
                except Exception:  # refused already, with its error
                    continue
        for entry in entries:
            document = entry.document
            if entry.unread is not None and document is not None and document.kind in kinds:
                entry.errors.remove(entry.unread)

    @staticmethod
    def _check_duplicates(entries: list[_Entry], located: dict[int, str]) -> None:
        first: dict[tuple[str, str, str], _Entry] = {}
        for entry in entries:
            doc = entry.document
            if doc is None or not doc.kind or not doc.name:
                continue
            scope = "" if doc.kind == "ClusterAnalysisTemplate" else doc.namespace or ""
            key = (doc.kind, scope, doc.name)
            if key not in first:
                first[key] = entry
                continue
            earlier = first[key]
            where = located[id(earlier)]
            if earlier.item is not None:
                where += f" items[{earlier.item}]"
            entry.error(
                "metadata.name",
                f"another {doc.kind} named {doc.name!r} is in {where} "
                "(applying both keeps only the last)",
                "warning",
            )

    @staticmethod
    def _check_references(entries: list[_Entry], cluster_may_have_more: bool) -> None:
        of_kind: dict[str, list[tuple[_Entry, Document]]] = defaultdict(list)
        for entry in entries:
            if entry.document is not None:
                of_kind[entry.document.kind].append((entry, entry.document))

        def pool(kind: str) -> _ByNamespace[AnalysisTemplate | None]:
            """Templates by name; None for one that exists but could not be read."""
            return _ByNamespace(
                (d.namespace, d.name, _template(e.model) if e.check_references else None)
                for e, d in of_kind[kind]
                if d.name
            )

        templates = pool("AnalysisTemplate")
        cluster: TemplatePool = pool("ClusterAnalysisTemplate").seen_from(None)
        services = _ByNamespace((d.namespace, d.name, None) for _, d in of_kind["Service"])
        for entry, document in of_kind["Rollout"]:
            if not entry.check_references or not isinstance(entry.model, Rollout):
                continue
            namespace = document.namespace
            for error in check_references(
                entry.model,
                templates.seen_from(namespace),
                cluster,
                services.seen_from(namespace).keys(),
                cluster_may_have_more=cluster_may_have_more,
            ):
                entry.error(error.path, error.message, error.severity)
        for kind in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
            for entry, document in of_kind[kind]:
                template = _template(entry.model) if entry.check_references else None
                if template is None:
                    continue
                for error in check_template_references(
                    template,
                    templates.seen_from(document.namespace),
                    cluster,
                    cluster_may_have_more=cluster_may_have_more,
                ):
                    entry.error(error.path, error.message, error.severity)


V = TypeVar("V")


class _ByNamespace(Generic[V]):
    """Objects of one kind by namespace and name, as an object of a namespace sees them:
    those of its namespace and those with no namespace (every one, for an object with
    none); of two with one name, the later in the files.  Built once, looked up per
    Rollout without copying (the reference checks stay linear in the documents)."""

    def __init__(self, named: Iterable[tuple[str | None, str, V]]) -> None:
        self._in: dict[str | None, dict[str, tuple[int, V]]] = defaultdict(dict)
        self._every: dict[str, tuple[int, V]] = {}
        for position, (namespace, name, value) in enumerate(named):
            self._in[namespace][name] = self._every[name] = (position, value)

    def seen_from(self, namespace: str | None) -> Mapping[str, V]:
        if namespace is None:
            return _Layers((self._every,))
        return _Layers((self._in.get(namespace, {}), self._in.get(None, {})))


class _Layers(Mapping[str, V]):
    """Names in any of ``layers``; where several have one, the latest (by position)."""

    def __init__(self, layers: tuple[dict[str, tuple[int, V]], ...]) -> None:
        self._layers = layers

    def __getitem__(self, name: str) -> V:
        found = [layer[name] for layer in self._layers if name in layer]
        if not found:
            raise KeyError(name)
        return max(found, key=lambda f: f[0])[1]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for layer in self._layers for name in layer))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _template(model: object) -> AnalysisTemplate | None:
    from .core._analysis import AnalysisTemplate

    return model if isinstance(model, AnalysisTemplate) else None


def _steps_intact(obj: Mapping[str, Any], rollout: Rollout) -> bool:
    """Whether every canary step was read: the step indexes of a Rollout read with errors
    (steps with errors are dropped) then still match the manifest's."""
    canary = rollout.canary
    if canary is None:
        return True
    try:
        steps = obj["spec"]["strategy"]["canary"]["steps"]
    except (KeyError, TypeError, IndexError):
        return True
    return not isinstance(steps, list) or len(steps) == len(canary.steps)


def _not_a_manifest(documents: Sequence[Parsed]) -> bool:
    """Whether a file's documents are plainly something else than Kubernetes objects:
    there is one at least, each a mapping, and none has a field every manifest has."""
    values = [d.value for d in documents if d.value is not None]
    return bool(values) and all(
        isinstance(v, dict) and not any(field in v for field in MANIFEST_FIELDS) for v in values
    )


def _type(value: object) -> str:
    """A type name as the core's readers write it (``got list``)."""
    return "null" if value is None else type(value).__name__
