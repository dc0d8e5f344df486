"""marketbrief: a portfolio's four daily market moments, kept in SQL, served through a hot cache."""

__version__ = "0.1.0"
