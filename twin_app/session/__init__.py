"""What a user does in a room, without a display: the client facade the UI codes against,
the in-process client, edit commands, follow consent and folding a handle drag into one edit.

Nothing here imports Qt or VTK (an import-linter contract checks it), so replay, operator
mode, other front ends and the tests use the same logic as the desktop window.
"""
