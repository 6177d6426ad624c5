"""The default return-reason taxonomy: the 14 codes, the out-of-scope label, and one line describing each.

The descriptions state the boundary rules the synthetic corpus follows, so the console, the docs and the
generator agree on what a code means (for example that a fault after months of use is a warranty claim, not
``DEFECTIVE``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = ["REASON_CODES", "OUT_OF_SCOPE", "REASON_DESCRIPTIONS", "OUT_OF_SCOPE_DESCRIPTION", "LABELS"]

REASON_CODES: Final[tuple[str, ...]] = (
    "DAMAGED_IN_TRANSIT",
    "DEFECTIVE",
    "WRONG_ITEM_SHIPPED",
    "ORDERED_WRONG_ITEM",
    "NOT_AS_DESCRIBED",
    "INCOMPATIBLE",
    "MISSING_PARTS",
    "QUANTITY_DISCREPANCY",
    "NO_LONGER_NEEDED",
    "LATE_DELIVERY",
    "DUPLICATE_ORDER",
    "WARRANTY_CLAIM",
    "EXPIRED_OR_SHORT_DATED",
    "OTHER",
)

OUT_OF_SCOPE: Final[str] = "OUT_OF_SCOPE"

#: Every label the corpus uses: the reason codes, then the out-of-scope label.
LABELS: Final[tuple[str, ...]] = (*REASON_CODES, OUT_OF_SCOPE)

REASON_DESCRIPTIONS: Final = MappingProxyType({
    "DAMAGED_IN_TRANSIT": "The item or its packaging arrived physically damaged by shipping or handling "
                          "(crushed, dented, cracked, wet).",
    "DEFECTIVE": "The item does not work or has a manufacturing fault on arrival or within the first few uses, "
                 "with no transit damage as the cause.",
    "WRONG_ITEM_SHIPPED": "The seller shipped a different item, variant or part number from the one on the order "
                          "(a picking or packing error).",
    "ORDERED_WRONG_ITEM": "The customer ordered the wrong item, size or variant by their own mistake; the seller "
                          "shipped what was ordered.",
    "NOT_AS_DESCRIBED": "The item differs from its listing, photos, catalogue or datasheet (spec, material, "
                        "colour, size, quality).",
    "INCOMPATIBLE": "The item is as described but does not fit or work with the customer's equipment, system "
                    "or site (voltage, thread, connector, model).",
    "MISSING_PARTS": "A component, accessory or fixing that belongs with the item is missing from the package.",
    "QUANTITY_DISCREPANCY": "The number of units delivered differs from the order (short or over shipment) "
                            "through no duplicate order.",
    "NO_LONGER_NEEDED": "The customer's need went away (change of mind, cancelled project, found it cheaper, "
                        "over-ordered); nothing is wrong with the item or its delivery.",
    "LATE_DELIVERY": "The item arrived after the promised or required date and is returned for that reason, "
                     "even when lateness is why it is no longer needed.",
    "DUPLICATE_ORDER": "The same order was placed or transmitted twice, by the customer or their systems, and "
                       "the duplicate is returned.",
    "WARRANTY_CLAIM": "The item failed after a period of normal use and is returned for repair or replacement "
                      "under the manufacturer's warranty or guarantee.",
    "EXPIRED_OR_SHORT_DATED": "A dated product (consumables, reagents, adhesives, PPE) arrived past its expiry "
                              "date or with too little shelf life left.",
    "OTHER": "A genuine return reason none of the other codes covers: gift returns, recalls, supplier or "
             "safety policy changes, consignment and trial returns, regulation, allergies.",
})

OUT_OF_SCOPE_DESCRIPTION: Final[str] = (
    "Not a return reason at all (invoice or payment questions, delivery-address changes, account questions, "
    "order-status questions, gibberish, spam): the model abstains and a human decides."
)
