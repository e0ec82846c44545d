# Build the Windows desktop bundle (and an installer when Inno Setup is installed).
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1
# Needs Python 3.12+ (python.org build) on PATH. Output: dist\bundle\Twinroom\Twinroom.exe,
# dist\Twinroom-VERSION-setup.exe. See packaging\README.md (Windows needs a port of the
# POSIX file locks before it ships).
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
if (-not (Test-Path .venv-win)) { python -m venv .venv-win }
$py = ".venv-win\Scripts\python.exe"
& $py -m pip install -q --upgrade pip
& $py -m pip install -q -e ".[app,package]"
$version = & $py -c "import twin_app; print(twin_app.__version__)"
$parts = ($version -split "[^0-9]+" | Where-Object { $_ -ne "" } | Select-Object -First 3) + @("0", "0", "0")
$tuple = "($($parts[0]), $($parts[1]), $($parts[2]), 0)"
New-Item -ItemType Directory -Force build | Out-Null
@"
VSVersionInfo(
  ffi=FixedFileInfo(filevers=$tuple, prodvers=$tuple),
  kids=[StringFileInfo([StringTable('040904B0', [
    StringStruct('CompanyName', 'Twinroom'),
    StringStruct('FileDescription', 'Twinroom - collaborative digital twin'),
    StringStruct('FileVersion', '$version'),
    StringStruct('ProductName', 'Twinroom'),
    StringStruct('ProductVersion', '$version')])]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])]
)
"@ | Set-Content -Encoding UTF8 build\windows-version.txt
& $py -m build --outdir dist .
& $py -m PyInstaller --noconfirm --distpath dist\bundle --workpath build\pyinstaller packaging\twinroom.spec
$iscc = Get-Command iscc.exe -ErrorAction SilentlyContinue
if ($iscc) {
  & $iscc.Source "/DAppVersion=$version" "/O$(Resolve-Path dist)" packaging\windows\twinroom.iss
} else {
  Write-Host "Inno Setup (iscc.exe) not found: dist\bundle\Twinroom is the portable app."
}
