; Inno Setup script of the Windows installer (per-user, no administrator rights needed).
; Compiled by build.ps1:  iscc /DAppVersion=X.Y.Z /Odist packaging\windows\twinroom.iss
#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif

[Setup]
AppId={{6B0E5E2A-5D43-4C41-9C5B-2E9B8E7A7D11}
AppName=Twinroom
AppVersion={#AppVersion}
AppPublisher=Twinroom
DefaultDirName={localappdata}\Programs\Twinroom
DefaultGroupName=Twinroom
PrivilegesRequired=lowest
OutputBaseFilename=Twinroom-{#AppVersion}-setup
SetupIconFile=..\..\twin_app\assets\icons\twinroom.ico
UninstallDisplayIcon={app}\Twinroom.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ArchitecturesInstallIn64BitMode=x64compatible

[Files]
Source: "..\..\dist\bundle\Twinroom\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\Twinroom"; Filename: "{app}\Twinroom.exe"
Name: "{userdesktop}\Twinroom"; Filename: "{app}\Twinroom.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\Twinroom.exe"; Description: "Open Twinroom on the demo plant"; Flags: nowait postinstall skipifsilent
