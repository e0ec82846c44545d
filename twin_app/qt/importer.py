"""Mesh import in a worker thread, with a progress dialog whose Cancel works.

Design notes
------------
* ``ImportJob`` (a ``QRunnable``) calls ``twin_app.io.import_file`` off the GUI thread and
  hands back only immutable results (an ``ImportResult``: encoded blobs, transforms) via
  queued signals. The GUI thread then stores the blobs with ``client.assets.put`` and
  submits the ``Batch`` from ``import_ops`` — one undoable edit per file.
* Cancel sets a ``threading.Event`` that the importer polls between stages and meshes (a
  STEP conversion runs in a child process that the importer kills).
* A broken file changes nothing: the error is shown as a message box naming the file and
  the reason, and no op is submitted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

log = logging.getLogger(__name__)


class ImportSignals(QObject):
    """Signals of an import job (emitted from the worker, delivered on the GUI thread)."""

    progress = Signal(float, str)
    finished = Signal(object)  # ImportResult
    failed = Signal(str)
    cancelled = Signal()


class ImportJob(QRunnable):
    """Reads one mesh file in a pool thread."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.signals = ImportSignals()
        self.cancel_event = threading.Event()
        self.setAutoDelete(False)

    def cancel(self) -> None:
        """Ask the import to stop (thread-safe)."""
        self.cancel_event.set()

    def run(self) -> None:
        from twin_app.io.importers import ImportCancelled, MeshImportError, import_file

        try:
            result = import_file(self.path, self.signals.progress.emit, self.cancel_event.is_set)
        except ImportCancelled:
            self.signals.cancelled.emit()
        except MeshImportError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # never let a worker die silently
            log.exception("import of %s failed", self.path)
            self.signals.failed.emit(f"{self.path.name}: unexpected error ({exc})")
        else:
            if self.cancel_event.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.finished.emit(result)


class ImportController(QObject):
    """Runs an import with a progress dialog and applies the result on the GUI thread."""

    sig_done = Signal(object)  # list of new top-level node ids, or None (failed/cancelled)

    def __init__(self, parent_widget: QWidget, apply_result: Callable[[Any], list[str] | None],
                 pool: QThreadPool | None = None) -> None:
        super().__init__(parent_widget)
        self.parent_widget = parent_widget
        self.apply_result = apply_result
        self.pool = pool or QThreadPool.globalInstance()
        self.job: ImportJob | None = None
        self.dialog: QProgressDialog | None = None
        self.last_error: str | None = None
        self.error_box: QMessageBox | None = None

    def start(self, path: Path) -> ImportJob:
        """Start importing ``path`` (returns at once)."""
        job = ImportJob(path)
        self.job = job
        dlg = QProgressDialog(f"Importing {path.name}…", "Cancel", 0, 1000, self.parent_widget)
        dlg.setWindowTitle("Import")
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setMinimumDuration(300)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.setValue(0)
        dlg.canceled.connect(job.cancel)
        self.dialog = dlg
        job.signals.progress.connect(self._on_job_progress)
        job.signals.finished.connect(self._on_job_finished)
        job.signals.failed.connect(self._on_job_failed)
        job.signals.cancelled.connect(self._on_job_cancelled)
        self.pool.start(job)
        return job

    def _close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.canceled.disconnect()
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None

    def _on_job_progress(self, fraction: float, stage: str) -> None:
        dlg = self.dialog
        if dlg is not None and not dlg.wasCanceled():
            name = self.job.path.name if self.job else ""
            dlg.setLabelText(f"Importing {name}…\n{stage}")
            # A modal progress dialog processes events in setValue: the job may finish
            # (and the dialog close) inside this call, so nothing may follow it.
            dlg.setValue(int(fraction * 1000))

    def _on_job_finished(self, result: Any) -> None:
        job, self.job = self.job, None
        self._close_dialog()
        if job is not None and job.cancel_event.is_set():
            # Cancelled after the file was read but before anything was applied.
            self.sig_done.emit(None)
            return
        ids = self.apply_result(result)
        self.sig_done.emit(ids)

    def _on_job_failed(self, message: str) -> None:
        self._close_dialog()
        self.job = None
        self.last_error = message
        box = QMessageBox(QMessageBox.Icon.Warning, "Import failed",
                          f"The file could not be imported. Nothing was changed.\n\n{message}",
                          QMessageBox.StandardButton.Ok, self.parent_widget)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.error_box = box
        box.open()
        self.sig_done.emit(None)

    def _on_job_cancelled(self) -> None:
        self._close_dialog()
        self.job = None
        self.sig_done.emit(None)
