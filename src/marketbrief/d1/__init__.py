"""The old Cloudflare D1 database and its import into the store.

Modules in layers, each importing only from those below it: `dump` (reading the export) and
`values` (what the old values mean); `session` (the state of one import and its report); the
table mappers `history`, `latest` and `market`; `importer` on top (table order, transaction).
"""
