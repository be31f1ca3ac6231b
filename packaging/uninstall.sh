#!/bin/sh
# Removes what install.sh put in place: the bundle, the menu entry, the icons, the command.
# Your chats, settings and downloaded models stay unless you pass --purge (see the list below).
#
#   ~/.local/opt/llamaside/uninstall.sh [--purge]
#
# Environment: the same PREFIX, BIN_DIR, XDG_DATA_HOME as install.sh.
set -eu

PREFIX=${PREFIX:-$HOME/.local/opt/llamaside}
BIN_DIR=${BIN_DIR:-$HOME/.local/bin}
DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}
purge=0
[ "${1:-}" = "--purge" ] && purge=1

# Only a folder that looks like the bundle is deleted: a mistyped PREFIX must not cost data.
if [ -x "$PREFIX/llamaside" ] && [ -d "$PREFIX/_internal" ]; then
    rm -rf "$PREFIX"
    echo "removed $PREFIX"
elif [ -e "$PREFIX" ]; then
    echo "uninstall.sh: $PREFIX does not look like a Llamaside bundle; left alone" >&2
fi

if [ -L "$BIN_DIR/llamaside" ]; then
    case $(readlink "$BIN_DIR/llamaside") in
        */llamaside) rm -f "$BIN_DIR/llamaside" ;;
    esac
fi
rm -f "$DATA_HOME/applications/llamaside.desktop"
for icon in "$DATA_HOME"/icons/hicolor/*/apps/llamaside.png \
    "$DATA_HOME/icons/hicolor/scalable/apps/llamaside.svg"; do
    rm -f "$icon"
done
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$DATA_HOME/applications" 2>/dev/null || true
fi

# The app's own data: platformdirs' folders for "Llamaside" (desktop/storage/paths.py), or all
# under $LLAMASIDE_HOME when that is set.
if [ -n "${LLAMASIDE_HOME:-}" ]; then
    data_dirs="$LLAMASIDE_HOME"
else
    data_dirs="$DATA_HOME/Llamaside ${XDG_CONFIG_HOME:-$HOME/.config}/Llamaside
${XDG_CACHE_HOME:-$HOME/.cache}/Llamaside ${XDG_STATE_HOME:-$HOME/.local/state}/Llamaside"
fi
if [ "$purge" = 1 ]; then
    for dir in $data_dirs; do
        rm -rf "$dir"
    done
    echo "removed your chats, settings, downloaded models and logs"
else
    echo "Kept your chats, settings, downloaded models and logs; to delete them too, run"
    echo "uninstall.sh --purge, or remove these folders:"
    for dir in $data_dirs; do
        echo "  $dir"
    done
    echo "API keys stay in the system keyring (service \"llamaside\"): delete them first with"
    echo "\`llamaside keys remove <provider>\` and \`llamaside models token delete\`, or in your"
    echo "keyring manager (Seahorse, KWalletManager)."
fi
