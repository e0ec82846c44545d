#!/usr/bin/env bash
# Build the macOS app bundle and a disk image.
#   packaging/macos/build.sh
# Needs Python 3.12+ (python.org universal2 or Homebrew). Output: dist/bundle/Twinroom.app,
# dist/Twinroom-VERSION-macos-ARCH.dmg. Optional: CODESIGN_IDENTITY="Developer ID Application: …"
# signs it (hardened runtime), NOTARY_PROFILE=name (xcrun notarytool store-credentials) notarises.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv-mac/bin/python ] || python3 -m venv .venv-mac
PY=.venv-mac/bin/python
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q -e ".[app,package]"
version=$("$PY" -c "import twin_app; print(twin_app.__version__)")
arch=$(uname -m)
"$PY" -m build --outdir dist .
"$PY" -m PyInstaller --noconfirm --distpath dist/bundle --workpath build/pyinstaller packaging/twinroom.spec
app=dist/bundle/Twinroom.app
if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  codesign --force --deep --options runtime --timestamp --sign "$CODESIGN_IDENTITY" "$app"
fi
dmg="dist/Twinroom-$version-macos-$arch.dmg"
rm -f "$dmg"
hdiutil create -volname "Twinroom $version" -srcfolder "$app" -ov -format UDZO "$dmg"
if [ -n "${CODESIGN_IDENTITY:-}" ] && [ -n "${NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$dmg" --keychain-profile "$NOTARY_PROFILE" --wait
  xcrun stapler staple "$dmg"
fi
echo "built $dmg"
