"""Apache Airflow provider for MsgFlash (WhatsApp number lookups, contact imports, instance readiness)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
