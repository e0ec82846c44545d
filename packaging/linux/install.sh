#!/bin/sh
# Install the Twinroom bundle this script sits in for the current user (no root needed):
# a launcher in the applications menu, the icon, and a `twinroom` command in ~/.local/bin.
# Run it again after moving the folder; `./install.sh --uninstall` removes them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
bin=$HOME/.local/bin
if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$data/applications/twinroom.desktop" "$bin/twinroom"
  for size in 16 32 48 64 128 256 512; do rm -f "$data/icons/hicolor/${size}x${size}/apps/twinroom.png"; done
  rm -f "$data/icons/hicolor/scalable/apps/twinroom.svg"
  echo "Twinroom launcher removed (the folder $here is left as it is)."
  exit 0
fi
mkdir -p "$data/applications" "$bin" "$data/icons/hicolor/scalable/apps"
icons="$here/_internal/twin_app/assets/icons"
for size in 16 32 48 64 128 256 512; do
  mkdir -p "$data/icons/hicolor/${size}x${size}/apps"
  cp "$icons/twinroom-$size.png" "$data/icons/hicolor/${size}x${size}/apps/twinroom.png"
done
cp "$icons/twinroom.svg" "$data/icons/hicolor/scalable/apps/twinroom.svg"
sed "s|@EXEC@|$here/Twinroom|g" "$here/twinroom.desktop" > "$data/applications/twinroom.desktop"
ln -sf "$here/Twinroom" "$bin/twinroom"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
echo "Twinroom installed: find it in your applications menu, or run 'twinroom'."
