"""The domain vocabularies the tabular models one-hot encode. One list each, so the fraud and disposition models
(and their bundles' feature names) agree on what a segment, a product category or a reason code is."""

from __future__ import annotations

__all__ = ["SEGMENTS", "CATEGORIES", "REASON_CODES"]

SEGMENTS = ("consumer", "contract", "field_sales_b2b")
CATEGORIES = (
    "power_tools", "hand_tools", "electronics", "apparel_workwear", "safety_equipment", "consumables",
    "spare_parts", "garden", "lighting", "e_mobility",
)
# The default reason taxonomy (DESIGN.md); datasets/reasons/taxonomy.py describes each code.
REASON_CODES = (
    "DAMAGED_IN_TRANSIT", "DEFECTIVE", "WRONG_ITEM_SHIPPED", "ORDERED_WRONG_ITEM", "NOT_AS_DESCRIBED",
    "INCOMPATIBLE", "MISSING_PARTS", "QUANTITY_DISCREPANCY", "NO_LONGER_NEEDED", "LATE_DELIVERY",
    "DUPLICATE_ORDER", "WARRANTY_CLAIM", "EXPIRED_OR_SHORT_DATED", "OTHER",
)
