"""Fixtures of the loading tests: session references, DB snapshots."""

from __future__ import annotations

from tests.helpers.fixtures import influenza_h1n1_reference, sars_cov_2_reference

__all__ = ["influenza_h1n1_reference", "sars_cov_2_reference"]
