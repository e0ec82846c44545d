"""The one place the render layer imports VTK classes from.

Importing the individual ``vtkmodules`` keeps start-up lean (``vtkmodules.all`` loads every
kit) and gives the rest of the package one list of the VTK classes it relies on. The
OpenGL2 factory overrides are imported for their side effect: without them the abstract
mappers and actors would have no rendering implementation.

VTK's classes come with stubs; ``numpy_support`` is unannotated, and a few stub signatures
are narrower than VTK itself. The typed helpers below are the only places that cross those
gaps, so the rest of the package is checked against precise types.
"""

from __future__ import annotations

from typing import Any

import numpy.typing as npt
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL implementations)
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonComputationalGeometry import vtkParametricTorus
from vtkmodules.vtkCommonCore import (
    vtkCommand,
    vtkDataArray,
    vtkIdTypeArray,
    vtkLookupTable,
    vtkPoints,
    vtkUnsignedCharArray,
)
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkMultiBlockDataSet, vtkPolyData
from vtkmodules.vtkCommonExecutionModel import vtkPolyDataAlgorithm
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkFiltersSources import (
    vtkArrowSource,
    vtkParametricFunctionSource,
    vtkPlaneSource,
)
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkRenderingAnnotation import vtkAxesActor, vtkScalarBarActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkBillboardTextActor3D,
    vtkCellPicker,
    vtkCompositeDataDisplayAttributes,
    vtkCompositePolyDataMapper,
    vtkPolyDataMapper,
    vtkProp,
    vtkRenderer,
)

from twin_app.io.typed import FloatArray, Int64Array

__all__ = [
    "clear_block",
    "numpy_to_vtk",
    "numpy_to_vtkIdTypeArray",
    "vtkActor",
    "vtkArrowSource",
    "vtkAxesActor",
    "vtkBillboardTextActor3D",
    "vtkCellArray",
    "vtkCellPicker",
    "vtkCommand",
    "vtkCompositeDataDisplayAttributes",
    "vtkCompositePolyDataMapper",
    "vtkDataArray",
    "vtkIdTypeArray",
    "vtkLookupTable",
    "vtkMatrix4x4",
    "vtkMultiBlockDataSet",
    "vtkOrientationMarkerWidget",
    "vtkParametricFunctionSource",
    "vtkParametricTorus",
    "vtkPlaneSource",
    "vtkPoints",
    "vtkPolyData",
    "vtkPolyDataAlgorithm",
    "vtkPolyDataMapper",
    "vtkProp",
    "vtkRenderer",
    "vtkScalarBarActor",
    "vtkUnsignedCharArray",
    "vtk_to_numpy",
]


def numpy_to_vtk(array: FloatArray, deep: bool = False) -> vtkDataArray:
    """Return a VTK array of a contiguous 1-D or 2-D ``array`` (n×k: k components).

    ``deep=False`` shares ``array``'s memory (the VTK array keeps a reference to it, so
    writing to ``array`` changes what VTK draws after a ``Modified()``); ``deep=True``
    copies. Raises ``TypeError`` for a dtype VTK has no array type for.
    """
    out: vtkDataArray = numpy_support.numpy_to_vtk(array, deep=deep)  # type: ignore[no-untyped-call]
    return out


def numpy_to_vtkIdTypeArray(array: Int64Array, deep: bool = False) -> vtkIdTypeArray:
    """Return a ``vtkIdTypeArray`` of a 1-D int64 ``array`` (shared unless ``deep``).

    Raises ``ValueError`` if ``array``'s dtype is not the platform's ``vtkIdType``.
    """
    out: vtkIdTypeArray = numpy_support.numpy_to_vtkIdTypeArray(  # type: ignore[no-untyped-call]
        array, deep=deep
    )
    return out


def vtk_to_numpy(array: vtkDataArray) -> npt.NDArray[Any]:
    """Return a numpy view on ``array``'s memory (n, or n×k for k components).

    The view is valid while VTK does not reallocate ``array`` (no resize, no insert).
    """
    out: npt.NDArray[Any] = numpy_support.vtk_to_numpy(array)  # type: ignore[no-untyped-call]
    return out


def clear_block(blocks: vtkMultiBlockDataSet, slot: int) -> None:
    """Empty block ``slot`` of ``blocks`` (the slot stays, holding nothing)."""
    # VTK takes a null block here; the stub declares the argument non-optional.
    blocks.SetBlock(slot, None)  # type: ignore[arg-type]


