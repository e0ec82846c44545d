"""The Qt desktop client: main window, panels, commands and the bridge to the network client.

Threading rule: only the GUI thread touches Qt widgets, VTK and ``client.store``. The
network agent thread only calls ``wakeup()``, which :class:`twin_app.qt.bridge.ClientBridge`
turns into a queued Qt signal; the GUI thread then drains the client's event queue.
"""
