#!/bin/sh
# Installs Llamaside for the current user from the unpacked bundle this script sits in:
#
#   tar xzf llamaside-<version>-linux-<arch>.tar.gz && llamaside/install.sh
#
# Puts the bundle in $PREFIX (default ~/.local/opt/llamaside), a menu entry in
# ~/.local/share/applications, the icons in the hicolor theme, and a `llamaside` command in
# ~/.local/bin. Needs no root. Run it again to update; uninstall.sh undoes it.
#
# Environment: PREFIX, BIN_DIR (default ~/.local/bin), XDG_DATA_HOME (default ~/.local/share).
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
PREFIX=${PREFIX:-$HOME/.local/opt/llamaside}
BIN_DIR=${BIN_DIR:-$HOME/.local/bin}
DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}

if [ ! -x "$here/llamaside" ] || [ ! -d "$here/_internal" ]; then
    echo "install.sh: run me from the unpacked llamaside folder (llamaside/install.sh)" >&2
    exit 1
fi
case $PREFIX in
    /*) ;;
    *) PREFIX=$(pwd -P)/$PREFIX ;;
esac
# The Exec line quotes the path; these would need escaping there, so refuse them instead.
case $PREFIX in
    *[\"\`\$\\%]*)
        echo "install.sh: PREFIX must not contain \" \` \$ \\ or %: $PREFIX" >&2
        exit 1
        ;;
esac

# --- the bundle ---------------------------------------------------------------------------------
mkdir -p "$(dirname "$PREFIX")"
target=$(cd "$(dirname "$PREFIX")" && pwd -P)/$(basename "$PREFIX")
if [ "$here" != "$target" ]; then
    # Copy beside the target, then swap: a failed copy leaves the installed version working.
    rm -rf "$target.new"
    cp -R "$here" "$target.new"
    rm -rf "$target"
    mv "$target.new" "$target"
fi
PREFIX=$target

# --- icons ----------------------------------------------------------------------------------------
icons="$DATA_HOME/icons/hicolor"
for png in "$PREFIX"/share/icons/llamaside-*.png; do
    size=${png##*-}
    size=${size%.png}
    mkdir -p "$icons/${size}x${size}/apps"
    cp "$png" "$icons/${size}x${size}/apps/llamaside.png"
done
mkdir -p "$icons/scalable/apps"
cp "$PREFIX/share/icons/llamaside.svg" "$icons/scalable/apps/llamaside.svg"

# --- menu entry -----------------------------------------------------------------------------------
# Icon=llamaside (a theme name, not a path) so the desktop picks the right size; the window
# finds the same name (QIcon.fromTheme in desktop/app.py), and StartupWMClass / the Wayland app
# id "llamaside" tie the window to this entry.
mkdir -p "$DATA_HOME/applications"
desktop_file="$DATA_HOME/applications/llamaside.desktop"
cat > "$desktop_file" <<DESKTOP
[Desktop Entry]
Type=Application
Name=Llamaside
GenericName=AI Chat
Comment=Private chat with local Llama models, cloud models side by side
Exec="$PREFIX/llamaside"
TryExec=$PREFIX/llamaside
Icon=llamaside
Terminal=false
Categories=Utility;
Keywords=AI;LLM;Llama;chat;assistant;
StartupNotify=true
StartupWMClass=llamaside
DESKTOP

# --- command --------------------------------------------------------------------------------------
mkdir -p "$BIN_DIR"
ln -sfn "$PREFIX/llamaside" "$BIN_DIR/llamaside"

# Refresh the desktop's caches where the tools exist (they are optional: desktops rescan).
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$DATA_HOME/applications" 2>/dev/null || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t "$icons" 2>/dev/null || true
fi

echo "Llamaside installed in $PREFIX"
echo "  menu entry: $desktop_file"
echo "  command:    $BIN_DIR/llamaside"
case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) echo "  (add $BIN_DIR to PATH to run \`llamaside\` from a terminal)" ;;
esac
