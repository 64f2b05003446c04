"""Why a TFDS dataset could not be opened: one line naming the dataset, folder and fix.

``tfds.data_source`` reports a dataset that is not prepared at all as a dataset "in
TFRecord format" (its default), so its errors cannot be passed on as they are. The
adapter asks it first and, when it fails, :func:`explain` looks at the data folder
itself (``<data_dir>/<name>/<version>/dataset_info.json``) to say what actually failed:
nothing there, an unfinished build, another version, TFRecord instead of array_record,
a missing split, or something else (quoted from TFDS).
"""

from __future__ import annotations

import json
import os
import pathlib

from disentax.data.files import DatasetFormatError, DatasetNotFoundError

ENV_VAR = "TFDS_DATA_DIR"
DEFAULT_DIR = "~/tensorflow_datasets"
# File formats that tfds.data_source reads with random access (no TensorFlow).
RANDOM_ACCESS = ("array_record", "parquet")
__all__ = ["build_command", "explain", "resolve_tfds_dir"]


def resolve_tfds_dir(data_dir: str | os.PathLike | None) -> pathlib.Path:
    """``data_dir`` if given, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``.

    Examples:
      >>> resolve_tfds_dir("/data/tfds").as_posix()
      '/data/tfds'
    """
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR) or DEFAULT_DIR
    return pathlib.Path(data_dir).expanduser()


def build_command(name: str, root: pathlib.Path) -> str:
    """The command that prepares ``name`` in the format the adapter reads.

    Examples:
      >>> import pathlib
      >>> build_command("dsprites", pathlib.Path("/d"))
      '`tfds build dsprites --data_dir=/d --file_format=array_record`'
    """
    return f"`tfds build {name} --data_dir={root} --file_format=array_record`"


def _prepare_hint(name: str, root: pathlib.Path) -> str:
    return (
        f"prepare it once (building needs TensorFlow: pip install tensorflow "
        f"tensorflow-datasets) with {build_command(name, root)}; disentax never downloads"
    )


def _versions(folder: pathlib.Path) -> tuple[dict[str, pathlib.Path], list[str]]:
    """Prepared versions (folders holding a dataset_info.json) and unfinished builds."""
    prepared, unfinished = {}, []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("incomplete."):
            unfinished.append(child.name)
        elif (child / "dataset_info.json").is_file():
            prepared[child.name] = child
    return prepared, unfinished


def _split_names(split: str) -> list[str]:
    # "train+test", "train[:10%]": the split names before any slice.
    return [part.split("[")[0].strip() for part in split.split("+")]


def _read_info(folder: pathlib.Path, name: str) -> dict:
    path = folder / "dataset_info.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DatasetFormatError(
            f"TFDS dataset {name!r}: {path} is not readable JSON ({err}); rebuild it with "
            f"{build_command(name, folder.parent.parent)}"
        ) from err


def _explain_version(name, version, root, split, err) -> Exception:
    folder = root / name / version
    info = _read_info(folder, name)
    formats = [info.get("fileFormat") or "tfrecord", *info.get("alternativeFileFormats", [])]
    if not set(formats) & set(RANDOM_ACCESS):
        return DatasetFormatError(
            f"TFDS dataset {name!r} found in {folder} but in {'/'.join(formats)} format; "
            f"disentax reads the random-access array_record format (no TensorFlow at read "
            f"time). Convert it in place (needs TensorFlow): `tfds convert_format "
            f"--dataset_version_dir={folder} --out_file_format=array_record`, or rebuild "
            f"it with {build_command(name, root)}"
        )
    splits = [s.get("name") for s in info.get("splits", [])]
    missing = [s for s in _split_names(split) if s not in splits]
    if missing:
        return DatasetNotFoundError(
            f"TFDS dataset {name!r} in {folder} has no split {' or '.join(missing)} "
            f"(it holds {', '.join(map(str, splits)) or 'none'}); ask for one of those "
            f"(split=...) or rebuild it with {build_command(name, root)}"
        )
    first = (str(err).strip().splitlines() or [""])[0]
    return DatasetFormatError(
        f"TFDS dataset {name!r} in {folder} could not be opened ({type(err).__name__}: "
        f"{first}); its shards may be missing or damaged: rebuild it with "
        f"{build_command(name, root)}"
    )


def explain(
    name: str, version: str, root: pathlib.Path, split: str, err: BaseException
) -> Exception:
    """The error to raise when ``tfds.data_source`` failed with ``err``.

    Args:
      name: the TFDS builder name.
      version: the version asked for (the installed builder's, or the caller's).
      root: the TFDS data folder.
      split: the split string asked for.
      err: what ``tfds.data_source`` raised.

    Returns:
      A :class:`~disentax.data.DatasetNotFoundError` (nothing, an unfinished build, another
      version, or a missing split) or :class:`~disentax.data.DatasetFormatError` (TFRecord
      format, unreadable metadata, or another failure), with a one-line message naming the
      dataset, the folder and what to do.
    """
    folder = root / name
    how = f"data_dir, ${ENV_VAR} or {DEFAULT_DIR}"
    if not folder.is_dir():
        return DatasetNotFoundError(
            f"TFDS dataset {name!r} not found: no folder {folder} (TFDS data folder {root}, "
            f"from {how}); {_prepare_hint(name, root)}"
        )
    prepared, unfinished = _versions(folder)
    if version in prepared:
        return _explain_version(name, version, root, split, err)
    if prepared:
        found, first = ", ".join(prepared), next(iter(prepared))
        return DatasetNotFoundError(
            f"TFDS dataset {name!r}: version {version} is not prepared in {folder} (found "
            f"version {found}); rebuild it with this tensorflow-datasets: "
            f"{build_command(name, root)}, or read a version found: version={first!r}"
        )
    if unfinished:
        return DatasetNotFoundError(
            f"TFDS dataset {name!r}: only an unfinished build ({', '.join(unfinished)}) in "
            f"{folder}; delete it and {_prepare_hint(name, root)}"
        )
    return DatasetNotFoundError(
        f"TFDS dataset {name!r} not found: {folder} holds no prepared version (no "
        f"<version>/dataset_info.json); {_prepare_hint(name, root)}"
    )
