"""Reading, verifying and writing bundle directories.

A bundle is a directory holding ``manifest.json`` and the files it lists (``weights.npz``,
``parity.json``, TFLite models...). The manifest records the sha256 and size of every other file,
so a corrupted, truncated or swapped file is caught before any weight is used.

Format versions are ``"MAJOR.MINOR"``: a reader accepts any minor version of a major it knows
(minor versions only add keys) and refuses other majors with a message that says what to do.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_lstm.errors import BundleError
from edge_lstm.runtime.int8_scheme import check_int8
from edge_lstm.runtime.spec import ModelSpec, check_weights, parse_model

FORMAT_NAME = "edge-lstm-bundle"
FORMAT_VERSION = "1.0"
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
WEIGHTS_INT8 = "weights_int8.npz"


@dataclass(frozen=True)
class Bundle:
    """A loaded, verified bundle: its manifest, model spec and float32 weights."""

    manifest: dict[str, Any]
    spec: ModelSpec
    weights: dict[str, np.ndarray]
    path: Path | None = None
    #: int8 arrays (``weights_int8.npz``) when the bundle was quantised, else empty.
    int8_weights: dict[str, np.ndarray] = field(default_factory=dict)
    #: Other files of a bundle not (yet) on disk, by name.
    files: dict[str, bytes] = field(default_factory=dict)

    def file_bytes(self, name: str) -> bytes:
        """The content of one of the bundle's files (a TFLite model, say)."""
        if name in self.files:
            return self.files[name]
        listed = self.manifest.get("files", {})
        if self.path is None or name not in listed:
            raise BundleError(f"the bundle has no file {name!r}")
        data = (self.path / name).read_bytes()
        if sha256_bytes(data) != listed[name].get("sha256"):
            raise BundleError(f"{self.path / name}: sha256 does not match the manifest (changed since loading)")
        return data

    @property
    def int8_params(self) -> dict[str, Any] | None:
        """The manifest's ``quantization.int8`` section, or None when the bundle has no int8 weights."""
        return (self.manifest.get("quantization") or {}).get("int8") if self.int8_weights else None

    @property
    def standardise(self) -> int:
        """N when the model expects each stream scaled by the mean and std of its first N samples (else 0)."""
        return int((self.manifest.get("preprocessing") or {}).get("standardise") or 0)

    @property
    def difference(self) -> bool:
        """True when the model sees each sample's change from the one before and forecasts the change ahead
        (``edge-lstm train --difference``), over the spread of the changes in a stream's first N samples."""
        return bool((self.manifest.get("preprocessing") or {}).get("difference"))

    @property
    def training(self) -> dict:
        """What the model learned from, as ``edge-lstm train`` reported it (data, head, seed); {} when unknown."""
        return dict(self.manifest.get("training") or {})

    @property
    def sha256(self) -> str:
        """Hash of the manifest, which pins every file of the bundle."""
        return hashlib.sha256(json.dumps(self.manifest, sort_keys=True).encode()).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_format(manifest: Any) -> None:
    """Refuse anything that is not a bundle manifest of a major version this runtime reads."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise BundleError(f"manifest.json is not an edge-lstm bundle manifest (no \"format\": \"{FORMAT_NAME}\")")
    version = str(manifest.get("format_version", ""))
    major = version.split(".")[0]
    if major != FORMAT_VERSION.split(".")[0]:
        raise BundleError(
            f"bundle format version {version!r} is not supported by this runtime, which reads "
            f"{FORMAT_VERSION.split('.')[0]}.x: convert the model again with this version's "
            "`edge-lstm convert`, or install the edge-lstm release that wrote it"
        )


def verify_files(path: Path, manifest: dict[str, Any]) -> list[str]:
    """Check every file the manifest lists; return a list of problems (empty when all is well)."""
    problems = []
    files = manifest.get("files")
    if not isinstance(files, dict) or WEIGHTS not in files:
        return [f"manifest.json lists no files (or not {WEIGHTS})"]
    for name, meta in sorted(files.items()):
        target = path / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            problems.append(f"{name}: file names must stay inside the bundle")
        elif not target.is_file():
            problems.append(f"{name}: missing")
        elif target.stat().st_size != meta.get("bytes"):
            problems.append(
                f"{name}: {target.stat().st_size} bytes, the manifest says {meta.get('bytes')} "
                "(truncated or replaced)"
            )
        elif _sha256_file(target) != meta.get("sha256"):
            problems.append(f"{name}: sha256 does not match the manifest (corrupted or replaced)")
    return problems


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Read and format-check ``manifest.json`` of the bundle at ``path``."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: no such bundle directory")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path}: no {MANIFEST} (is this a bundle written by `edge-lstm convert`?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path / MANIFEST}: not valid JSON ({exc})") from None
    check_format(manifest)
    return manifest


def _load_npz(data: bytes, where: str) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise BundleError(f"{where}: cannot be read as .npz ({exc})") from None


def read_bundle(path: str | os.PathLike, verify: bool = True) -> Bundle:
    """Load the bundle at ``path``, verifying every file's size and hash unless ``verify`` is False."""
    path = Path(path)
    manifest = read_manifest(path)
    if verify:
        problems = verify_files(path, manifest)
        if problems:
            raise BundleError(f"{path}: bundle failed verification: " + "; ".join(problems))
    try:
        data = (path / WEIGHTS).read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{path}: no {WEIGHTS}") from None
    if not isinstance(manifest.get("model"), dict):
        raise BundleError(f"{path / MANIFEST}: has no \"model\" section")
    weights = _load_npz(data, str(path / WEIGHTS))
    int8 = {}
    if WEIGHTS_INT8 in manifest.get("files", {}):
        int8 = _load_npz((path / WEIGHTS_INT8).read_bytes(), str(path / WEIGHTS_INT8))
    return bundle_from_parts(manifest["model"], weights, manifest=manifest, path=path, int8_weights=int8)


def bundle_from_parts(
    model: dict[str, Any],
    weights: dict[str, np.ndarray],
    manifest: dict[str, Any] | None = None,
    path: Path | None = None,
    int8_weights: dict[str, np.ndarray] | None = None,
    files: dict[str, bytes] | None = None,
) -> Bundle:
    """Build a :class:`Bundle` in memory from the manifest's model part and its weights."""
    spec = parse_model(model)
    bundle = Bundle(manifest=manifest or {"model": model}, spec=spec, weights=check_weights(spec, weights),
                    path=path, int8_weights=int8_weights or {}, files=files or {})
    if bundle.int8_weights:
        if bundle.int8_params is None:
            raise BundleError(f"{WEIGHTS_INT8} is present but the manifest has no quantization.int8 section")
        try:
            check_int8(bundle.spec, bundle.int8_params, bundle.int8_weights)
        except ValueError as exc:
            raise BundleError(f"{WEIGHTS_INT8}: {exc}") from None
    return bundle


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def write_bundle(
    out: str | os.PathLike,
    manifest: dict[str, Any],
    weights: dict[str, np.ndarray],
    extra_files: dict[str, bytes] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a bundle directory atomically: it is built beside ``out`` and renamed into place.

    ``manifest`` must hold at least ``model``; ``format``, ``format_version`` and ``files`` are filled in.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise BundleError(f"{out} already exists (pass overwrite=True / --force to replace it)")
    files = {WEIGHTS: npz_bytes(weights), **(extra_files or {})}
    full = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **manifest}
    full["files"] = {name: {"sha256": sha256_bytes(data), "bytes": len(data)} for name, data in sorted(files.items())}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, data in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
