"""The numpy array types of the mesh I/O and render layers, named once.

Shapes are not part of numpy's static types, so each alias names the dtype and the
docstrings of the functions that use it give the shape. Parameters that accept any
precision take ``FloatArray``/``IntArray``; results name the exact dtype they produce.
This module imports numpy only, so both the worker-thread importers and the VTK render
layer can use it. A 4×4 float64 matrix is ``twin_app.core.xform.Matrix``.
"""

from __future__ import annotations

from typing import TypeAlias, TypeVar

import numpy as np
from numpy.typing import NDArray

FloatArray: TypeAlias = NDArray[np.floating]
"""Coordinates of any float precision (input)."""
IntArray: TypeAlias = NDArray[np.integer]
"""Indices of any integer type (input)."""
Float64Array: TypeAlias = NDArray[np.float64]
"""Points (n×3), vectors and bounds in double precision."""
Float32Array: TypeAlias = NDArray[np.float32]
"""Mesh vertices (n×3) as blobs store and VTK draws them."""
Int64Array: TypeAlias = NDArray[np.int64]
"""Triangle or line indices (k×3, k×2) as VTK cell arrays take them."""
UInt32Array: TypeAlias = NDArray[np.uint32]
"""Triangle indices (k×3) as mesh blobs store them."""

FloatT = TypeVar("FloatT", bound=np.floating)
"""A float dtype kept from a function's argument to its result."""

__all__ = [
    "Float32Array",
    "Float64Array",
    "FloatArray",
    "FloatT",
    "Int64Array",
    "IntArray",
    "UInt32Array",
]
