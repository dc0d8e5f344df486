"""The offline demo: sample news and prices written for it, and a store seeded from them.

`sample.py` writes `dir:` news and price files (the formats `pipeline/news.py` and
`pipeline/prices.py` read) for dates relative to today, from the headline pool and price
profile shipped in `data/`; `seed.py` runs the real backfill path over them. `marketbrief demo`
(`cli/demo.py`) is the face.
"""
