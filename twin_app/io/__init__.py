"""Mesh import and export: files ↔ parts with content-addressed mesh blobs.

``importers`` (STL, OBJ, PLY, glTF/GLB, 3MF, STEP) and ``exporters`` (GLB) are plain Python,
numpy and trimesh — no Qt — so they run in worker threads. trimesh is imported lazily, on
the first import or export, so importing this package stays cheap.
"""
