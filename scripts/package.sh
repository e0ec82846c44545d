#!/usr/bin/env bash
# `make package`: the Python packages and the desktop bundle of this release.
#
#   dist/twinroom-VERSION.tar.gz, dist/twinroom-VERSION-py3-none-any.whl   (python -m build)
#   dist/bundle/Twinroom/                  the self-contained app (PyInstaller, one folder)
#   dist/Twinroom-VERSION-linux-ARCH.tar.gz   that folder with its launcher installer
#
# Windows and macOS builds use the same recipe (packaging/twinroom.spec) on those systems:
# packaging/windows/build.ps1, packaging/macos/build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if ! "$PY" -c "import PyInstaller, build" 2>/dev/null; then
  echo "package: installing the packaging tools (extra 'package')"
  "$PY" -m pip install -q -e ".[app,dev,package]"
fi
version=$("$PY" -c "import twin_app; print(twin_app.__version__)")
arch=$(uname -m)
rm -f dist/twinroom-*.whl dist/twinroom-*.tar.gz "dist/Twinroom-$version-linux-$arch.tar.gz"

mkdir -p build
echo "package: sdist and wheel"
"$PY" -m build --outdir dist . >build/python-build.log 2>&1 || { tail -30 build/python-build.log; exit 1; }

echo "package: desktop bundle (PyInstaller)"
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath dist/bundle --workpath build/pyinstaller \
  packaging/twinroom.spec >build/pyinstaller.log 2>&1 || { tail -40 build/pyinstaller.log; exit 1; }
bundle=dist/bundle/Twinroom
# Debug symbols out of VTK's and CPython's libraries (-150 MB). Not a global strip: it
# corrupts libraries that auditwheel patched (numpy's OpenBLAS then fails to load).
if command -v strip >/dev/null; then
  find "$bundle/_internal/vtkmodules" "$bundle"/_internal/python3.* -name '*.so*' -type f \
    -exec strip --strip-unneeded {} +
  strip --strip-unneeded "$bundle"/_internal/libpython3*.so*
fi
cp packaging/linux/twinroom.desktop packaging/linux/install.sh "$bundle/"
cat >"$bundle/README.txt" <<TXT
Twinroom $version for Linux ($arch)

  ./Twinroom            start the app on the demo plant (no Python needed)
  ./install.sh          add Twinroom to your applications menu (and 'twinroom' to ~/.local/bin)
  ./Twinroom --help     join a colleague's room: --connect tcp://HOST:7700 --room NAME --token ...
  ./Twinroom twin-sync serve --data DIR ...   run a sync server from the bundle

Needs an X11 or Wayland desktop with OpenGL 3.2 (Mesa is fine) and glibc 2.28 or newer.
TXT
tar -C dist/bundle -czf "dist/Twinroom-$version-linux-$arch.tar.gz" Twinroom

echo "package: done"
du -sh "$bundle" | awk '{print "  bundle folder:   " $1 "  " $2}'
for f in "dist/Twinroom-$version-linux-$arch.tar.gz" dist/twinroom-"$version"*; do
  du -h "$f" | awk '{print "  " $2 ": " $1}'
done
