"""Fakes of remote services that run for real on 127.0.0.1, so tests exercise real clients and sockets."""
