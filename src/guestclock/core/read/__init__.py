"""Bytes and text in, model out; never opening a file."""
