"""save / load / dumps / loads: a model plus the metadata that makes it safe to reload.

``save`` records the environment, the input and output schemas, a check sample
and the custom code a model needs; ``load`` checks trust, integrity, the
custom code and the versions, recomputes the check sample when the
environment changed, and returns a :class:`~satchel.model.Model` whose
prediction methods validate their input.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from satchel import checks, custom_code, environment, schema
from satchel.errors import (
    EncodeError,
    EnvironmentMismatchError,
    EnvironmentMismatchWarning,
    FormatError,
    LimitError,
    PredictionMismatchError,
    shown_name,
    warn,
)
from satchel.format import container, reader, writer
from satchel.format.arrays import Progress
from satchel.format.container import Codec, Header
from satchel.format.decoder import Decoder, collect_names
from satchel.format.encoder import encode
from satchel.format.reader import Source
from satchel.format.trust import TrustPolicy, split_name
from satchel.inspection import FileLike, check_file_object, opened
from satchel.metadata import Metadata, user_data, whole_number
from satchel.model import Model, is_model
from satchel.registry.names import is_model_uri

OnMismatch = Literal["warn", "error", "ignore"]


def _encode(obj: Any, *, sample: Any, compress: Codec | None, metadata: dict[str, Any] | None,
            embed_source: bool, sample_rows: int
            ) -> tuple[Any, list[container.Stored], dict[str, Any]]:
    """(tree, arrays, metadata) of the file ``obj`` is saved as."""
    if compress is not None and compress not in container.CODECS:
        raise ValueError(
            f"compress must be None, 'zstd' or 'lz4', not {compress!r}: satchel takes the name"
            " of a codec, with no level (as joblib's compress=3 or ('lz4', 3) give one); pass"
            " compress='zstd' for smaller files or compress='lz4' for faster loads")
    if compress is not None:
        container.require_codec(compress)
    _check_sample_rows(sample_rows)
    if isinstance(obj, Model):  # a loaded model saved again: the estimator, not the wrapper
        if sample is None and metadata is None and not embed_source:
            changed = _changed(obj)
            if changed is None:
                tree, arrays = encode(obj.unwrap())  # and the metadata it was saved with
                return tree, arrays, _saved_again(obj, tree)
            warn(
                f"the model no longer matches the metadata it was loaded with: {changed}. Its"
                " input schema and check sample are not saved with it; pass sample= (rows like"
                " those it was fitted on) to store new ones.")
            metadata = obj.metadata.get("user") or None  # the caller's own is kept
        obj = obj.unwrap()
    if sample is not None and is_model(obj):
        sample = schema.model_columns(obj, sample)
    tree, arrays = encode(obj)
    try:
        uses = collect_names(tree)
    except LimitError as exc:  # the reader's walk: a file it would refuse is not written
        raise EncodeError(f"cannot save: {exc}") from None
    input_schema = schema.infer_input(obj, sample) if is_model(obj) else None
    check = checks.build(obj, sample, sample_rows) if sample is not None else None
    record = Metadata(
        environment=environment.capture(_modules(
            uses, [tree] if check is None else [tree, check["tree"]], input_schema)),
        input_schema=input_schema,
        output_schema=_output_schema(obj, sample) if is_model(obj) else None,
        check=check,
        code=custom_code.describe(uses, embed_source),
        user=user_data(metadata),
    )
    return tree, arrays, record.to_json()


def _modules(uses: set[tuple[Any, str]], trees: list[Any],
             input_schema: schema.InputSchema | None) -> set[str]:
    """The modules whose distributions a file records: those the objects it names come from,
    and the DataFrame libraries the model needs (:func:`_frame_libraries`)."""
    return {split_name(name)[0] for _, name in uses} | _frame_libraries(trees, input_schema)


def _frame_libraries(trees: list[Any], input_schema: schema.InputSchema | None) -> set[str]:
    """pandas where a model takes named columns (it is given DataFrames, which a pandas
    release may read otherwise), and pandas or polars where its tree or its check sample's
    spells the name: objects of pandas, or an estimator set to output that library's
    DataFrames, which it needs to predict (scikit-learn imports it only then, so whether
    it is imported says nothing). A library the model does not need is not recorded: a
    load where it is not installed would report it missing."""
    found = set()
    if input_schema is not None and input_schema.is_frame:
        found.add("pandas")
    try:
        text = b"".join(orjson.dumps(tree) for tree in trees)
    except orjson.JSONEncodeError:  # text that is no Unicode: writing the header says so
        return found
    return found | {name for name in ("pandas", "polars") if f'"{name}"'.encode() in text}


def _check_sample_rows(sample_rows: object) -> None:
    """Refuse a ``sample_rows`` that is no count of rows: a negative one kept no row without
    a word, and a float or a string failed deep inside with a TypeError."""
    if whole_number(sample_rows) is None:
        raise ValueError(f"sample_rows must be a whole number >= 0 (the rows of sample= to"
                         f" keep; 0 keeps none), not {sample_rows!r:.40}")


def _changed(model: Model) -> str | None:
    """How a loaded model's estimator no longer takes the columns (or number of features)
    of the metadata it was loaded with (it was fitted again since: ``model.fit(X, y)``), or
    None. Its schema and check sample, saved with it again, would refuse its inputs and fail
    verification."""
    estimator, expected = model.unwrap(), Metadata.from_json(model.metadata).input_schema
    names = getattr(estimator, "feature_names_in_", None)
    count = getattr(estimator, "n_features_in_", None)
    if expected is not None and expected.is_frame and names is not None and (
            {str(name) for name in names} != {c.name for c in expected.columns}):
        return (f"it was fitted again on the columns {[str(name) for name in names][:10]},"
                f" where its schema has {[c.name for c in expected.columns][:10]}")
    if expected is not None and expected.n_features is not None and count is not None and (
            count != expected.n_features):
        return (f"it was fitted again on {count} features, where its schema has"
                f" {expected.n_features}")
    return None


def _saved_again(model: Model, tree: Any) -> dict[str, Any]:
    """The metadata of a loaded model saved again: the one it was saved with, but for the
    environment, recorded anew when its versions differ from the current ones, and for the
    check sample's outputs, computed anew when the model no longer gives them (fitted again
    on the same columns, or predicting otherwise under the current versions). Re-saving the
    model under the current versions, as the mismatch warning and error advise, silences
    them only if the new file records those versions and outputs."""
    metadata = dict(model.metadata)
    again = _outputs_again(model)
    if again is not None:
        check, output = again
        metadata.pop("check", None)
        if check is not None:
            metadata["check"] = check
            metadata["schema"] = {**metadata.get("schema", {"input": None}), "output": output}
    saved = metadata.get("environment")
    if not saved or not environment.compare(saved):
        return metadata
    record = Metadata.from_json(metadata)
    trees = [tree] if record.check is None else [tree, record.check["tree"]]
    modules = _modules(collect_names(tree), trees, record.input_schema)
    return {**metadata, "environment": environment.capture(modules)}


def _outputs_again(model: Model) -> tuple[dict[str, Any] | None, dict[str, Any]] | None:
    """(check sample, output schema) of ``model`` computed anew on the check sample's rows,
    the check None if they are no input of it now; None if the stored outputs are still its
    own (or there are none)."""
    check, estimator = model.metadata.get("check"), model.unwrap()
    if check is None:
        return None
    try:
        checks.verify(estimator, check, "")
        return None
    except FormatError:  # a check sample no model could give: not kept
        return None, {}
    except PredictionMismatchError:
        rows = checks.decoded(check)["input"]
    output = _output_schema(estimator, rows).to_json()
    try:
        return checks.build(estimator, rows, check["rows"]), output
    except ValueError:  # the model refuses every row now
        return None, output


def _output_schema(model: Any, sample: Any) -> schema.OutputSchema:
    predictions = None
    if sample is not None and hasattr(model, "predict"):
        predictions = checks.outputs(model, checks._rows(sample, 5)).get("predict")
    return schema.infer_output(model, predictions)


def save(obj: Any, file: FileLike, *, sample: Any = None, compress: Codec | None = None,
         metadata: dict[str, Any] | None = None, embed_source: bool = False,
         sample_rows: int = checks.DEFAULT_ROWS) -> None:
    """Save ``obj`` with its metadata to ``file`` (a path or a writable binary file).

    A path is written to a temporary file beside it and renamed into place, so a
    crash never leaves a half-written file under the final name.

    Args:
        obj: a fitted scikit-learn estimator or pipeline (or any supported value).
        file: destination path or binary file object.
        sample: training rows (DataFrame or array). The input schema is inferred
            from them and the first ``sample_rows`` rows are stored with the
            model's outputs, to be checked at load time.
        compress: ``"zstd"`` or ``"lz4"`` to compress each array that shrinks.
        metadata: JSON-serializable user metadata, kept outside the digest.
        embed_source: also store the source of custom modules (run only by
            ``load(..., trust_code=True)``).
        sample_rows: rows of ``sample`` to keep (bounded to 1 MiB of JSON); 0 keeps no
            check sample, only the schema.

    Raises:
        EncodeError: ``obj`` holds something satchel cannot store safely (a
            lambda, a class defined in ``__main__``...); the message gives its
            path inside ``obj`` and the fix.
        ValueError: ``compress`` is no codec, or ``sample_rows`` no whole number >= 0.
        SatchelError: ``compress`` names a codec whose package is not installed
            (``pip install 'satchel[compression]'``).
        OSError: the path's folder is missing or read-only, or its filesystem has no room
            left (the message names the path; a file there keeps what it held).

    Example:
        >>> satchel.save(pipeline, "churn.satchel", sample=X_train)  # doctest: +SKIP
    """
    if not isinstance(file, (str, os.PathLike)):
        check_file_object(file, "write")
    tree, arrays, record = _encode(obj, sample=sample, compress=compress, metadata=metadata,
                                   embed_source=embed_source, sample_rows=sample_rows)
    if isinstance(file, (str, os.PathLike)):
        writer.write(tree, arrays, record, file, compress)
        return
    for chunk in container.serialize(tree, arrays, record, compress):
        file.write(chunk)


def save_model(model: Model, file: str | os.PathLike[str]) -> None:
    """Save a loaded :class:`Model` again, as :func:`save` does: with the metadata it was
    saved with, but for the environment and the check sample's outputs, recorded anew when
    they are no longer its own; fitted again on other columns, without its schema and check
    sample."""
    save(model, file)


def dumps(obj: Any, *, sample: Any = None, compress: Codec | None = None,
          metadata: dict[str, Any] | None = None, embed_source: bool = False,
          sample_rows: int = checks.DEFAULT_ROWS) -> bytes:
    """The bytes :func:`save` would write, given the same keywords."""
    tree, arrays, record = _encode(obj, sample=sample, compress=compress, metadata=metadata,
                                   embed_source=embed_source, sample_rows=sample_rows)
    return b"".join(container.serialize(tree, arrays, record, compress))


def load(file: FileLike, *, trusted: Iterable[str] = (), mmap: bool = False,
         verify: bool | None = None, on_mismatch: OnMismatch = "warn",
         trust_code: bool = False, check_arrays: bool | None = None) -> Any:
    """Load what :func:`save` wrote, checking it on the way.

    Nothing the file names is imported before the trust check and no callable
    it names is called. A full load verifies every byte of the file, unless
    ``check_arrays=False``.

    Args:
        file: a path or a readable binary file object.
        trusted: names to trust beyond the default set (``["mypkg.MyScaler"]``, or
            one name as a string).
        mmap: map the file; uncompressed arrays become read-only views of it
            (zero copy). Their checksums are then left to a full load (a compressed
            array, read whole to be decompressed, is checked first). A stream,
            or an open file at a position that is no multiple of 64, is read.
        verify: recompute the check sample. ``None`` (default) does so when the
            loading environment differs from the saving one (a version, the platform
            or the Python implementation).
        on_mismatch: what a version difference does: ``"warn"`` (one
            :class:`EnvironmentMismatchWarning`), ``"error"`` or ``"ignore"``.
        trust_code: run the custom source embedded in the file if its modules
            are not installed, and trust the names it defines.
        check_arrays: verify every array's checksum. ``None`` (default) does so
            for full loads and not for ``mmap=True``, whose point is not to read
            every page (unless the file was read rather than mapped; compressed
            arrays, read whole to be decompressed, are checked); a server
            passes True (one pass over shared pages). ``False`` skips them on a
            full load too, which then does not read the arrays the object does
            not keep: damage to an array's bytes may go unnoticed, but the header
            hash, the layout and every check of the decoded values still run, so
            a crafted file is refused as before.

    ``file`` may also be a ``models:/name``, ``models:/name/3`` or
    ``models:/name@alias`` URI, loaded from the registry ``SATCHEL_REGISTRY``
    names (``./satchel-registry`` by default).

    Returns:
        A :class:`~satchel.model.Model` for estimators, else the object itself.

    Raises:
        UntrustedTypesError: the file needs names that are not trusted.
        MissingCodeError: a custom module is not installed.
        FormatError: the file is damaged, crafted or not a satchel file.
        EnvironmentMismatchError: versions differ and ``on_mismatch="error"``.
        PredictionMismatchError: the check sample's outputs changed.
        TypeError: ``trusted`` is no list of names (``trusted=True``).
        ValueError: a name in ``trusted`` is no dotted name of identifiers.
    """
    if is_model_uri(file):
        from satchel.registry import Registry  # noqa: PLC0415 - the registry is optional

        return Registry(create=False).load(str(file), trusted=trusted, mmap=mmap, verify=verify,
                               on_mismatch=on_mismatch, trust_code=trust_code,
                               check_arrays=check_arrays)
    with opened(file) as handle:
        if mmap:
            source = Source.mapped(handle)
            header = source.header()
            # What could not be mapped was read whole: checking it reads no more pages.
            if check_arrays or (check_arrays is None and source.writable):
                source.verify(header)
        else:  # a larger file's arrays are read as the object is built
            source, header = reader.read_verified(handle, lazy=True,
                                                  check=check_arrays is not False)
        try:
            return _load(header, source, trusted=trusted,
                         check_arrays=check_arrays is not False, verify=verify,
                         on_mismatch=on_mismatch, trust_code=trust_code)
        finally:
            source.close()


def loads(data: bytes | bytearray | memoryview, *, trusted: Iterable[str] = (),
          verify: bool | None = None, on_mismatch: OnMismatch = "warn",
          trust_code: bool = False) -> Any:
    """Load from the bytes :func:`dumps` returned (a full, verified load).

    ``data`` may be any buffer (a memoryview of shared memory, a numpy array), read as
    ``bytes(data)`` reads it.
    """
    source, header = reader.verified(Source.from_bytes(data))
    return _load(header, source, trusted=trusted, check_arrays=True, verify=verify,
                 on_mismatch=on_mismatch, trust_code=trust_code)


def trusted_names(trusted: Iterable[str]) -> list[str]:
    """The names ``trusted=`` holds: a string alone is one name, not its letters."""
    if isinstance(trusted, str):
        return [trusted]
    if not isinstance(trusted, Iterable):  # trusted=True, as skops takes it
        raise TypeError(
            f"trusted must be a list of names, such as trusted=['mypkg.MyScaler'], not"
            f" {trusted!r}: satchel never trusts a whole file; satchel.untrusted_types(file)"
            " (or satchel untrusted FILE) lists the names it needs")
    names = list(trusted)
    for name in names:
        try:
            split_name(name)
        except FormatError:  # the error of a file's names: this one is the caller's
            raise ValueError(
                "trusted names each type or function by its dotted name, such as"
                f" 'mypkg.features.MyScaler', not {shown_name(name)}:"
                " satchel.untrusted_types(file) (or satchel untrusted FILE) lists the names a"
                " file needs") from None
    return names


def _load(header: Header, source: Source, *, trusted: Iterable[str], check_arrays: bool,
          verify: bool | None, on_mismatch: OnMismatch, trust_code: bool) -> Any:
    record = Metadata.from_json(header.metadata)
    if on_mismatch not in ("warn", "error", "ignore"):
        raise ValueError(f"on_mismatch must be 'warn', 'error' or 'ignore', not {on_mismatch!r}")
    extra = custom_code.trusted_names(record.code) if trust_code else []
    policy = TrustPolicy([*trusted_names(trusted), *extra])
    uses = collect_names(header.tree)
    policy.check(uses)
    modules = {split_name(name)[0] for _, name in uses}
    # a record with no names is a module the used ones import, embedded to run with them
    stray = sorted({str(r["module"]) for r in record.code if r.get("names") != []} - modules)
    if stray:
        raise FormatError(f"metadata.code records module(s) {stray} that the object does not"
                          " use: the metadata was altered")
    custom_code.ensure_available(record.code, trust_code, modules)
    differences = environment.compare(record.environment) if record.environment else []
    if differences:
        _report(differences, on_mismatch)
    with _quiet_sklearn(record.environment):
        obj = Decoder(header, source, policy, check_arrays).decode(header.tree)
    source.finish()
    if record.check is None and verify:
        warn("load(verify=True) found no check sample in the file: its predictions were not"
             " checked. Save the model with sample= (a few rows of its training data) to store"
             " one.")
    if record.check is not None and verify is not False:
        # another machine with the same versions is no mismatch to report, but may round
        # otherwise: its predictions are checked as those under other versions are
        machine = environment.moved(record.environment)
        if verify or differences or machine:
            checks.verify(obj, record.check, _versions(differences + machine))
    if not is_model(obj):
        return obj
    return Model(obj, record.input_schema, record.output_schema, header.metadata, header.digest,
                 mapped=not source.writable)


@contextlib.contextmanager
def _quiet_sklearn(saved: dict[str, Any] | None) -> Iterator[None]:
    """Silence scikit-learn's version warning, which it gives once per estimator, unless
    the model was saved under the installed scikit-learn (it then has nothing to say,
    and the filter would cost a first load its regular expression)."""
    recorded = (saved or {}).get("packages", {}).get("scikit-learn")
    if recorded is not None and recorded == environment.installed_version("scikit-learn"):
        yield
        return
    with warnings.catch_warnings():
        # The mismatch report says it once.
        warnings.filterwarnings("ignore", message="Trying to unpickle estimator")
        yield


def _versions(differences: list[environment.Difference]) -> str:
    if not differences:
        return "The environment is the one the model was saved in"
    return "Saved -> current: " + ", ".join(str(d) for d in differences)


def _report(differences: list[environment.Difference], on_mismatch: OnMismatch) -> None:
    if on_mismatch == "ignore":
        return
    message = (
        f"the model was saved in another environment ({len(differences)} difference"
        f"{'s' if len(differences) != 1 else ''}): " + "; ".join(str(d) for d in differences)
        + ". Install the saved versions (satchel inspect FILE --requirements) or re-save the"
        " model under the current ones."
    )
    if on_mismatch == "error":  # re-saving it means loading it first
        raise EnvironmentMismatchError(
            f"{message} To load it here, pass on_mismatch='warn' or 'ignore': the check"
            " sample, if the file holds one, is recomputed either way.")
    warn(EnvironmentMismatchWarning(message))


@dataclass(frozen=True)
class Verification:
    """What :func:`verify` checked."""

    digest: str
    arrays: int
    checked_rows: int
    differences: list[environment.Difference]


def verify(file: FileLike, *, trusted: Iterable[str] = (), trust_code: bool = False,
           progress: Progress | None = None) -> Verification:
    """Check a file completely: every byte, the content digest and the check sample.

    Raises:
        IntegrityError: a checksum or the digest does not match.
        PredictionMismatchError: the check sample's outputs changed.
        UntrustedTypesError: the file needs names that are not trusted.
    """
    with opened(file) as handle:
        source, header = reader.read_verified(handle, progress)
    reader.check_digest(source, header)
    record = Metadata.from_json(header.metadata)
    # A file with no check sample has nothing more to check: its Verification says so.
    _load(header, source, trusted=trusted, check_arrays=True,
          verify=True if record.check is not None else None, on_mismatch="ignore",
          trust_code=trust_code)
    return Verification(
        digest=header.digest,
        arrays=len(header.arrays),
        checked_rows=record.check["rows"] if record.check else 0,
        differences=environment.compare(record.environment) if record.environment else [],
    )
