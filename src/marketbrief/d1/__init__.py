"""The old Cloudflare D1 database: dump reader, value mapping, and the importer."""
