"""Renders resources/llamaside.svg to the PNG sizes desktops ask for (resources/llamaside-N.png).

Run after editing the SVG, and commit the PNGs: the build and install scripts copy them and do
not need Qt's SVG module at build time.

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/render_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
#: The hicolor theme's usual sizes (install.sh puts each in hicolor/<N>x<N>/apps).
SIZES = (16, 32, 48, 64, 128, 256, 512)


def render(svg: Path, size: int, out: Path) -> None:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not an SVG Qt can draw")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out)):  # PNG, from the suffix
        raise SystemExit(f"cannot write {out}")


def main() -> int:
    _app = QGuiApplication(sys.argv[:1])  # QImage and QPainter need one (fonts, formats)
    svg = RESOURCES / "llamaside.svg"
    for size in SIZES:
        out = RESOURCES / f"llamaside-{size}.png"
        render(svg, size, out)
        print(out.relative_to(RESOURCES.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
