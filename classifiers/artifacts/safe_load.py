"""Loading an estimator file without running code from it: an unpickler that refuses anything
outside an explicit list of trusted types.

A pickle names the callables it needs (``module.name``) and calls them as it loads, so
``joblib.load`` of a crafted file runs whatever it names (``os.system``...). The sha256 in the
manifest detects corruption, not tampering: whoever can change the file can change the manifest.
``safe_load`` reads joblib's format with joblib's own unpickler but resolves only:

- classes of this project's estimators (``classifiers.*``) and of scikit-learn, and scipy's
  sparse matrices: their constructors store parameters, nothing else;
- numpy arrays, dtypes and scalar types, and the few functions numpy and joblib use to rebuild
  them (``TRUSTED_FUNCTIONS``);
- plain builtin containers and numbers.

Anything else (a function of any other module, ``numpy.memmap``, ``builtins.eval``...) is an
``UntrustedContentError`` naming it, before it is called.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any, Final

import numpy as np
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

__all__ = ["TRUSTED_FUNCTIONS", "UntrustedContentError", "safe_load"]

TRUSTED_CLASS_PACKAGES: Final = ("classifiers", "sklearn", "scipy.sparse")
TRUSTED_FUNCTIONS: Final = frozenset(
    {
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("copyreg", "_reconstructor"),
        ("_codecs", "encode"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
    }
)
TRUSTED_BUILTINS: Final = frozenset(
    {"dict", "list", "set", "frozenset", "tuple", "slice", "complex", "float", "int", "bool"}
    | {"bytes", "bytearray", "str", "object", "range"}
)


class UntrustedContentError(Exception):
    """The file names something the loader does not trust."""


def _in_packages(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


class _TrustingOnlyKnownTypes(NumpyUnpickler):  # type: ignore[misc]  # joblib is untyped
    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins":
            if name in TRUSTED_BUILTINS:
                return getattr(builtins, name)
        elif (module, name) in TRUSTED_FUNCTIONS or (module, name) == (
            "joblib.numpy_pickle",
            "NumpyArrayWrapper",
        ):
            return super().find_class(module, name)
        elif _in_packages(module, (*TRUSTED_CLASS_PACKAGES, "numpy")):
            found = super().find_class(module, name)
            if _trusted_class(module, found):
                return found
        raise UntrustedContentError(f"refuses {module}.{name}: not a trusted type")


def _trusted_class(module: str, found: object) -> bool:
    if not isinstance(found, type):
        return False
    if _in_packages(module, TRUSTED_CLASS_PACKAGES):
        return True
    return found is np.ndarray or found is np.dtype or issubclass(found, np.generic)


def safe_load(path: Path) -> Any:
    """The object in the joblib file at ``path``, built only from trusted types."""
    with (
        open(path, "rb") as handle,
        _validate_fileobject_and_memmap(handle, str(path), None) as (fileobj, _),
    ):
        return _TrustingOnlyKnownTypes(str(path), fileobj, True).load()


_ = NumpyArrayWrapper  # joblib rebuilds arrays with it; imported so a rename fails loudly here
