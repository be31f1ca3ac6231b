"""Opens the main window and the windows its menus open at a given size, in a process of its
own (200 % scaling must be set before Qt starts), and prints what is cut off in each as JSON.

    QT_SCALE_FACTOR=2 python -m tests.ui.layout_probe 800 600
"""

from __future__ import annotations

import json
import sys

from PySide6.QtWidgets import QApplication, QWidget

from desktop.app import build_window
from desktop.storage.paths import AppPaths
from tests.ui.clipping import clipped


def lay_out(widget: QWidget, width: int, height: int) -> None:
    widget.resize(width, height)
    widget.show()
    for _ in range(3):  # layouts settle over a few passes (elided labels, wrapped text)
        QApplication.processEvents()


def main(width: int, height: int) -> dict[str, object]:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    window = build_window(AppPaths.from_env())
    window.menus.offline_action.trigger()  # nothing in this walk reaches the network
    report: dict[str, object] = {}
    lay_out(window, width, height)
    report["main window"] = {
        "size": [window.width(), window.height()],
        "minimum": [window.minimumSizeHint().width(), window.minimumSizeHint().height()],
        "cut": clipped(window),
    }
    menus = window.menus
    for name in ("models_action", "compare_action", "providers_action", "privacy_action"):
        action = getattr(menus, name)
        before = set(app.topLevelWidgets())
        action.trigger()
        app.processEvents()
        for top in app.topLevelWidgets():
            if top in before or not top.isVisible():
                continue
            lay_out(top, min(top.width(), width), min(top.height(), height))
            report[f"{type(top).__name__} ({name})"] = {
                "size": [top.width(), top.height()],
                "minimum": [top.minimumSizeHint().width(), top.minimumSizeHint().height()],
                "cut": clipped(top),
            }
            top.close()
    window.close()
    window.chat.store.close()
    return report


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2])), indent=1))
