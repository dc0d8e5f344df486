"""One pure builder per report type: inputs in, payload dict out; no I/O, no clock."""
