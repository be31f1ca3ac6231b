"""The thinking a model did before an answer ("▸ Thought for 12 s" above it), in a window of
its own: read-only, selectable, closed with Esc."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)


class ThoughtsDialog(QDialog):
    """Shows one answer's thinking. It owns nothing else."""

    def __init__(
        self,
        model_name: str,
        thinking: str,
        parent: QWidget | None = None,
        *,
        title: str = "",
        accessible: str = "What the model thought before answering",
    ) -> None:
        super().__init__(parent)
        self.setObjectName("thoughtsDialog")
        self.setWindowTitle(title or f"Thinking · {model_name}")
        self.resize(640, 480)
        self.text = QPlainTextEdit(self)
        self.text.setObjectName("thoughtsText")
        self.text.setAccessibleName(accessible)
        self.text.setReadOnly(True)
        self.text.setPlainText(thinking)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
