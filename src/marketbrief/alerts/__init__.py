"""The service watching itself: incidents claimed in the store, told through notification URLs."""

from marketbrief.alerts.watch import Alerts

__all__ = ["Alerts"]
