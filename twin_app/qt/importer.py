"""Mesh import in worker threads, with a units dialog and a progress dialog whose Cancel works.

Design notes
------------
* An import runs in two jobs (``QRunnable``s) off the GUI thread: ``read`` parses the file
  (``importers.read_file``), ``build`` encodes the meshes at the chosen unit
  (``importers.build``). Each hands back only immutable results via queued signals. The
  GUI thread then stores the blobs with ``client.assets.put`` and submits the ``Batch``
  from ``import_ops`` — one undoable edit per file.
* Between the two, a file whose format carries no unit (STL, OBJ, PLY, OFF) opens
  ``UnitsDialog``: the person picks the unit the designer used, sees the size it gives and
  a warning when that size is implausible ("304 m wide — was it millimetres?"). The
  choice is remembered per format in the window's settings (``import/units/<FORMAT>``);
  millimetres is the default for STL. Files that declare their unit go straight on.
* Cancel sets a ``threading.Event`` that the importer polls between stages and meshes (a
  STEP conversion runs in a child process that the importer kills); Cancel in the units
  dialog ends the import before anything is built.
* A broken file changes nothing: a message box names the file and the reason in plain
  words, with the parser's own words under "Show Details…", and no op is submitted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QSettings, Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMessageBox,
    QProgressDialog,
    QVBoxLayout,
    QWidget,
)

from twin_app.io import units

log = logging.getLogger(__name__)


class ImportSignals(QObject):
    """Signals of an import job (emitted from the worker, delivered on the GUI thread)."""

    progress = Signal(float, str)
    finished = Signal(object)  # LoadedFile (read) or ImportResult (build)
    failed = Signal(str, str)  # message, details
    cancelled = Signal()


class ImportJob(QRunnable):
    """Reads one mesh file (``stage`` "read") or builds a read file (``stage`` "build") in a
    pool thread."""

    def __init__(self, path: Path, stage: str = "read", loaded: Any = None,
                 unit: str = "auto") -> None:
        super().__init__()
        self.path = path
        self.stage = stage
        self.loaded = loaded
        self.unit_box = unit
        self.signals = ImportSignals()
        self.cancel_event = threading.Event()
        self.setAutoDelete(False)

    def cancel(self) -> None:
        """Ask the import to stop (thread-safe)."""
        self.cancel_event.set()

    def run(self) -> None:
        from twin_app.io.importers import ImportCancelled, MeshImportError, build, read_file

        emit, cancelled = self.signals.progress.emit, self.cancel_event.is_set
        try:
            if self.stage == "read":
                result: Any = read_file(self.path, lambda f, s: emit(0.6 * f, s), cancelled)
            else:
                result = build(self.loaded, self.unit_box, lambda f, s: emit(0.6 + 0.4 * f, s),
                               cancelled)
        except ImportCancelled:
            self.signals.cancelled.emit()
        except MeshImportError as exc:
            self.signals.failed.emit(str(exc), exc.details)
        except Exception as exc:  # never let a worker die silently
            log.exception("import of %s failed", self.path)
            self.signals.failed.emit(f"{self.path.name}: unexpected error ({exc})",
                                     f"{type(exc).__name__}: {exc}")
        else:
            if self.cancel_event.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.finished.emit(result)


class UnitsDialog(QDialog):
    """Asks which unit a unitless file was drawn in, showing the size each choice gives."""

    def __init__(self, loaded: Any, unit: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loaded = loaded
        self.setWindowTitle(f"Import {loaded.source}")
        self.setObjectName("unitsDialog")
        self.setMinimumWidth(380)
        intro = QLabel(
            f"{loaded.format} files do not say which unit they were drawn in. "
            "Choose the unit the designer used:")
        intro.setWordWrap(True)
        self.unit_box = QComboBox()
        self.unit_box.setObjectName("unitBox")
        for name in units.CHOICES:
            self.unit_box.addItem(units.UNIT_LABELS[name], name)
        self.size_label = QLabel()
        self.size_label.setObjectName("sizeLabel")
        self.warning = QLabel()
        self.warning.setObjectName("sizeWarning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #c05a00; font-weight: 600;")
        form = QFormLayout()
        form.addRow("Drawn in:", self.unit_box)
        form.addRow("Size:", self.size_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Import")
        ok.setObjectName("importButton")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.warning)
        layout.addWidget(self.buttons)
        self.unit_box.currentIndexChanged.connect(self._on_unit_changed)
        index = self.unit_box.findData(unit)
        self.unit_box.setCurrentIndex(max(index, 0))
        self._on_unit_changed()

    def chosen(self) -> str:
        """The unit picked (short name, e.g. ``"mm"``)."""
        return str(self.unit_box.currentData())

    def _on_unit_changed(self, *_: object) -> None:
        size = self.loaded.size_m(self.chosen())
        self.size_label.setText(units.size_text(size))
        warning = units.size_warning(size, self.chosen())
        self.warning.setText(f"⚠ {warning}" if warning else "")
        self.warning.setVisible(bool(warning))


class ImportController(QObject):
    """Runs an import (read, units, build) with dialogs; applies the result on the GUI thread."""

    sig_done = Signal(object)  # list of new top-level node ids, or None (failed/cancelled)

    def __init__(self, parent_widget: QWidget, apply_result: Callable[[Any], list[str] | None],
                 pool: QThreadPool | None = None, settings: QSettings | None = None) -> None:
        super().__init__(parent_widget)
        self.parent_widget = parent_widget
        self.apply_result = apply_result
        self.pool = pool or QThreadPool.globalInstance()
        self.settings = settings
        self.job: ImportJob | None = None
        self.dialog: QProgressDialog | None = None
        self.units_dialog: UnitsDialog | None = None
        self.last_error: str | None = None
        self.error_box: QMessageBox | None = None

    @property
    def busy(self) -> bool:
        """True while an import is reading, waiting for its unit or building."""
        return self.job is not None or self.units_dialog is not None

    def start(self, path: Path) -> ImportJob:
        """Start importing ``path`` (returns at once)."""
        return self._run(ImportJob(path), path)

    def _run(self, job: ImportJob, path: Path) -> ImportJob:
        self.job = job
        if self.dialog is None:
            dlg = QProgressDialog(f"Importing {path.name}…", "Cancel", 0, 1000, self.parent_widget)
            dlg.setWindowTitle("Import")
            dlg.setWindowModality(Qt.WindowModality.WindowModal)
            dlg.setMinimumDuration(300)
            dlg.setAutoClose(False)
            dlg.setAutoReset(False)
            dlg.setValue(0)
            self.dialog = dlg
        self.dialog.canceled.connect(job.cancel)
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
        if job is not None and job.cancel_event.is_set():
            # Cancelled after the file was read but before anything was applied.
            self._close_dialog()
            self.sig_done.emit(None)
            return
        if job is not None and job.stage == "read":
            if result.declared:
                self._run(ImportJob(job.path, "build", result, "auto"), job.path)
            else:
                self._close_dialog()  # the units dialog takes its place
                self._ask_units(job.path, result)
            return
        self._close_dialog()
        ids = self.apply_result(result)
        self.sig_done.emit(ids)

    def _setting(self, fmt: str) -> str:
        return f"import/units/{fmt}"

    def _ask_units(self, path: Path, loaded: Any) -> None:
        remembered = (str(self.settings.value(self._setting(loaded.format), ""))
                      if self.settings is not None else "")
        unit = remembered if remembered in units.CHOICES else loaded.file_unit
        dlg = UnitsDialog(loaded, unit, self.parent_widget)
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.units_dialog = dlg

        def finished(code: int) -> None:
            self.units_dialog = None
            if code != QDialog.DialogCode.Accepted:
                self.sig_done.emit(None)
                return
            chosen = dlg.chosen()
            if self.settings is not None:
                self.settings.setValue(self._setting(loaded.format), chosen)
            self._run(ImportJob(path, "build", loaded, chosen), path)

        dlg.finished.connect(finished)
        dlg.open()

    def _on_job_failed(self, message: str, details: str) -> None:
        self._close_dialog()
        self.job = None
        self.last_error = message
        box = QMessageBox(QMessageBox.Icon.Warning, "Import failed",
                          f"The file could not be imported. Nothing was changed.\n\n{message}",
                          QMessageBox.StandardButton.Ok, self.parent_widget)
        if details and details not in message:
            box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.error_box = box
        box.open()
        self.sig_done.emit(None)

    def _on_job_cancelled(self) -> None:
        self._close_dialog()
        self.job = None
        self.sig_done.emit(None)
