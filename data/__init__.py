"""Bundled data, installed as the package ``toolkit.data``: read it through ``toolkit.data_files``.

This file only makes the folder a regular package, which an editable install needs in order to
map the import name onto this folder.
"""
