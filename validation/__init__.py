"""Validation engine (pure Python, no Django). See validation/health.py for health."""

from validation.health import Health, compute_health

__all__ = ["Health", "compute_health"]
