"""The Twinroom sync server: rooms of shared scene documents over one ZeroMQ endpoint.

Imports the pure core and the protocol, ZeroMQ and SQLite — never Qt or VTK — so it runs
on a headless machine. Entry point: ``twin-sync`` (:mod:`sync_server.cli`).
"""
