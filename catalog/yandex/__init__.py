"""Yandex Music as a catalog source: the client, its links, the importer and matching
files to Yandex tracks."""
