"""Build the serving encoder (``classifiers.onnx_encoder``) from the installed MiniLM package.

    router encoder export [--out DIR] [--check]

1. the package's BERT weights (``transformers``) wrapped with sentence-transformers' mean pooling
   and L2 normalisation, exported to ONNX by torch's TorchScript exporter (opset 17, dynamic
   batch and sequence axes);
2. dynamic int8 quantisation (``quantize_dynamic``): every MatMul's weights to signed int8 with
   one scale per output channel (per tensor loses too much: mean cosine to the original 0.956
   against 0.994 on seed prompts); activations are quantised per call at run time, so no
   calibration data is involved. ONNX Runtime fuses attention and layer norms when it loads the
   model, so nothing is fused offline;
3. the package's tokenizer, set to truncate at 256 word pieces (the model's ``max_seq_length``)
   and not to pad (each text runs alone);
4. ``encoder.json``: name, dimension, the source package and its model files' digest, the
   library versions used, and the sha256 of each file written.

Every step is deterministic: the same package and library versions give the same bytes, which
``--check`` verifies against the shipped directory. The directory is written beside its target
and renamed into place, so a reader never sees half an export. Needs the ``[train]`` extra.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

from classifiers.encoder import PACKAGE, model_files_sha256, packaged_model_path
from classifiers.errors import EncoderUnavailableError
from classifiers.onnx_encoder import (
    ENCODERS_DIR,
    MODEL_FILE,
    ONNX_DIR_NAME,
    ONNX_NAME,
    SPEC_FILE,
    TOKENIZER_FILE,
    file_sha256,
    read_encoder_spec,
)

__all__ = ["ExportCheck", "check_export", "default_export_dir", "export_encoder"]

OPSET = 17
MAX_SEQ_LENGTH = 256
DIMENSION = 384
LIBRARIES = ("torch", "transformers", "onnx", "onnxruntime", "tokenizers")


def default_export_dir() -> Path:
    return ENCODERS_DIR / ONNX_DIR_NAME


def export_encoder(out_dir: Path | None = None, *, replace: bool = False) -> dict[str, Any]:
    """Build the int8 ONNX encoder into ``out_dir`` (default: the shipped place); its spec.

    An existing ``out_dir`` is replaced only with ``replace``.
    """
    out_dir = default_export_dir() if out_dir is None else out_dir
    if out_dir.exists() and not replace:
        raise FileExistsError(f"{out_dir} exists; rebuild over it with --replace (replace=True)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    source = packaged_model_path()
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        spec = _build(source, staging)
        staging.chmod(0o755)  # mkdtemp's 0700 would keep the shipped export from other users
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return spec


def _build(source: Path, target: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="encoder-export-") as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        _export_fp32(source, fp32)
        _quantise(fp32, target / MODEL_FILE)
    _write_tokenizer(source, target / TOKENIZER_FILE)
    spec = {
        "name": ONNX_NAME,
        "dimension": DIMENSION,
        "max_seq_length": MAX_SEQ_LENGTH,
        "pooling": "mean over the attention mask, then L2 normalisation (in the graph)",
        "quantisation": "onnxruntime quantize_dynamic: int8 weights (QInt8) per output channel,"
        " uint8 activations quantised per call",
        "source": {
            "package": PACKAGE,
            "version": _version(PACKAGE),
            "files_sha256": model_files_sha256(source),
        },
        "built_with": {name: _version(name) for name in LIBRARIES},
        "opset": OPSET,
        "files": {name: file_sha256(target / name) for name in (MODEL_FILE, TOKENIZER_FILE)},
    }
    text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    (target / SPEC_FILE).write_text(text, encoding="utf-8")
    return spec


def _export_fp32(source: Path, path: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise EncoderUnavailableError(
            "exporting the encoder needs torch and transformers: pip install -e '.[train]'"
        ) from exc

    from classifiers.encoder import quiet_progress_bars

    with quiet_progress_bars():
        bert = AutoModel.from_pretrained(
            str(source), local_files_only=True, attn_implementation="eager"
        )
    model = _pooled_module(torch, bert).eval()
    example = (torch.ones((2, 8), dtype=torch.int64), torch.ones((2, 8), dtype=torch.int64))
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    # the tracer warns of every Python-level branch on shapes; the axes are dynamic all the same
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )


def _pooled_module(torch: Any, bert: Any) -> Any:
    class Pooled(torch.nn.Module):  # type: ignore[misc]
        """sentence-transformers' Pooling (mean) and Normalize modules after the BERT forward."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return Pooled()


def _quantise(source: Path, target: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # "consider pre-processing": that is for static quantisation
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.disable(previous)


def _write_tokenizer(source: Path, target: Path) -> None:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(source / TOKENIZER_FILE))
    tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
    tokenizer.no_padding()  # each text runs alone (classifiers.onnx_encoder)
    tokenizer.save(str(target), pretty=False)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


class ExportCheck:
    """A fresh export compared file by file with an existing one."""

    def __init__(self, expected: dict[str, str], rebuilt: dict[str, str]) -> None:
        self.expected = expected
        self.rebuilt = rebuilt

    @property
    def identical(self) -> bool:
        return self.expected == self.rebuilt

    def differences(self) -> list[str]:
        names = sorted(set(self.expected) | set(self.rebuilt))
        return [name for name in names if self.expected.get(name) != self.rebuilt.get(name)]


def check_export(shipped: Path | None = None) -> ExportCheck:
    """Rebuild into a temporary directory and compare every file's sha256 with ``shipped``."""
    shipped = default_export_dir() if shipped is None else shipped
    expected = dict(read_encoder_spec(shipped)["files"])
    with tempfile.TemporaryDirectory(prefix="encoder-check-") as scratch:
        spec = export_encoder(Path(scratch) / shipped.name)
    return ExportCheck(expected, dict(spec["files"]))
