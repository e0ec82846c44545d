"""The one place the render layer imports VTK classes from.

Importing the individual ``vtkmodules`` keeps start-up lean (``vtkmodules.all`` loads every
kit) and gives the rest of the package one list of the VTK classes it relies on. The
OpenGL2 factory overrides are imported for their side effect: without them the abstract
mappers and actors would have no rendering implementation.
"""

from __future__ import annotations

import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL implementations)
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy
from vtkmodules.vtkCommonComputationalGeometry import vtkParametricTorus
from vtkmodules.vtkCommonCore import vtkObject, vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkMultiBlockDataSet, vtkPolyData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkCommonTransforms import vtkTransform
from vtkmodules.vtkFiltersSources import (
    vtkArrowSource,
    vtkParametricFunctionSource,
    vtkPlaneSource,
)
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkRenderingAnnotation import vtkAxesActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkBillboardTextActor3D,
    vtkCellPicker,
    vtkCompositeDataDisplayAttributes,
    vtkCompositePolyDataMapper,
    vtkPolyDataMapper,
    vtkRenderer,
)

__all__ = [
    "numpy_to_vtk",
    "numpy_to_vtkIdTypeArray",
    "vtkActor",
    "vtkArrowSource",
    "vtkAxesActor",
    "vtkBillboardTextActor3D",
    "vtkCellArray",
    "vtkCellPicker",
    "vtkCompositeDataDisplayAttributes",
    "vtkCompositePolyDataMapper",
    "vtkMatrix4x4",
    "vtkMultiBlockDataSet",
    "vtkObject",
    "vtkOrientationMarkerWidget",
    "vtkParametricFunctionSource",
    "vtkParametricTorus",
    "vtkPlaneSource",
    "vtkPoints",
    "vtkPolyData",
    "vtkPolyDataMapper",
    "vtkRenderer",
    "vtkTransform",
    "vtk_to_numpy",
]
