"""A small product catalogue of an industrial and e-commerce distributor, used to fill template slots.

Every product has a key attribute (voltage, thread, size, colour...) with a few alternative values, so a
template can say "ordered {attr}, got {alt}" and stay plausible for that product. Tags say which templates a
product can appear in: a "won't power on" complaint needs a ``powered`` product, an expiry complaint a
``perishable`` one, a missing-component complaint a ``kit`` (any product with parts), a warranty claim a
``durable`` one (powered or assembled goods).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = ["Product", "PRODUCTS", "CATEGORY_NAMES", "EQUIPMENT", "TAGS", "products_with"]

#: Tags a template may require of its product.
TAGS: Final[tuple[str, ...]] = ("powered", "perishable", "kit", "bulk", "wearable", "assembly", "screen",
                                "threaded", "durable")


@dataclass(frozen=True)
class Product:
    """One catalogue line: what the texts call it and the attribute they argue about."""

    sku: str
    name: str
    short: str
    category: str
    attr_name: str
    attr_value: str
    alternatives: tuple[str, ...]
    parts: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    plural: bool = False


def _p(sku: str, name: str, short: str, category: str, attr: tuple[str, str, tuple[str, ...]],
       parts: tuple[str, ...] = (), tags: str = "", plural: bool = False) -> Product:
    tag_set = frozenset(tags.split())
    if parts:
        tag_set |= {"kit"}
    if tag_set & {"powered", "assembly"}:
        # Goods that are used for months and can fail in service, hence warranty claims.
        tag_set |= {"durable"}
    unknown = tag_set - set(TAGS)
    if unknown:
        raise ValueError(f"{sku}: unknown tags {sorted(unknown)}")
    return Product(sku, name, short, category, attr[0], attr[1], attr[2], parts, tag_set, plural)


PRODUCTS: Final[tuple[Product, ...]] = (
    # power tools
    _p("PT-DR18-001", "18V cordless drill driver", "drill", "power_tools", ("voltage", "18V", ("12V", "24V", "36V")),
       ("battery", "charger", "carry case", "belt clip"), "powered"),
    _p("PT-AG115-002", "115 mm angle grinder", "grinder", "power_tools", ("voltage", "230V", ("110V",)),
       ("side handle", "guard", "flange key"), "powered"),
    _p("PT-IMP20-003", "20V impact driver kit", "impact driver", "power_tools", ("voltage", "20V", ("12V", "18V")),
       ("battery", "charger", "bit set"), "powered"),
    _p("PT-JS650-004", "650W pendulum jigsaw", "jigsaw", "power_tools", ("power", "650W", ("500W", "800W")),
       ("blade set", "dust port adapter"), "powered"),
    _p("PT-SDS-005", "SDS-plus rotary hammer", "hammer drill", "power_tools", ("chuck", "SDS-plus", ("SDS-max",)),
       ("depth gauge", "side handle"), "powered"),
    _p("PT-HG2000-006", "2000W heat gun", "heat gun", "power_tools", ("power", "2000W", ("1600W", "1800W")),
       ("nozzle set",), "powered"),
    # fasteners
    _p("FS-HB-M840", "M8 x 40 zinc hex bolts (box of 100)", "bolts", "fasteners",
       ("thread", "M8", ("M6", "M10", "M12")), tags="bulk threaded", plural=True),
    _p("FS-WS-4X30", "4 x 30 mm wood screws (box of 200)", "screws", "fasteners",
       ("size", "4 x 30 mm", ("4 x 40 mm", "5 x 50 mm", "3.5 x 25 mm")), tags="bulk threaded", plural=True),
    _p("FS-NY-M10", "M10 nylon insert lock nuts (bag of 50)", "lock nuts", "fasteners",
       ("thread", "M10", ("M8", "M12")), tags="bulk threaded", plural=True),
    _p("FS-ANC-10", "10 mm sleeve anchors (box of 50)", "anchors", "fasteners",
       ("diameter", "10 mm", ("8 mm", "12 mm")), tags="bulk", plural=True),
    _p("FS-RIV-48", "4.8 mm aluminium pop rivets (pack of 500)", "rivets", "fasteners",
       ("diameter", "4.8 mm", ("3.2 mm", "4.0 mm")), tags="bulk", plural=True),
    _p("FS-THR-38", "3/8\"-16 UNC threaded rod, 1 m", "threaded rod", "fasteners",
       ("thread", "3/8\"-16 UNC", ("M10", "1/2\"-13 UNC")), tags="threaded"),
    # electrical
    _p("EL-MCB-B16", "B16 single-pole MCB circuit breaker", "breaker", "electrical",
       ("rating", "16A", ("10A", "20A", "32A"))),
    _p("EL-LED-6060", "600 x 600 LED panel light 40W", "LED panel", "electrical",
       ("colour temperature", "4000K", ("3000K", "6500K")), ("LED driver", "mounting clips"), "powered"),
    _p("EL-CBL-25", "2.5 mm2 3-core flex cable, 50 m reel", "cable", "electrical",
       ("cross-section", "2.5 mm2", ("1.5 mm2", "4 mm2"))),
    _p("EL-EXT-4G", "4-gang extension lead 5 m", "extension lead", "electrical",
       ("plug", "UK type G", ("EU Schuko", "US type B")), tags="powered"),
    _p("EL-CON-24", "3-phase contactor, 24V coil", "contactor", "electrical",
       ("coil voltage", "24V AC", ("230V AC", "110V AC")), tags="powered"),
    _p("EL-PSU-24", "24V 5A DIN-rail power supply", "power supply", "electrical", ("output", "24V", ("12V", "48V")),
       tags="powered"),
    # safety gear
    _p("SG-GLV-NIT", "powder-free nitrile gloves (box of 100)", "gloves", "safety", ("size", "L", ("S", "M", "XL")),
       tags="bulk wearable perishable", plural=True),
    _p("SG-BOOT-S3", "S3 safety boots", "safety boots", "safety", ("size", "42", ("41", "43", "44")),
       tags="wearable", plural=True),
    _p("SG-HLM-VNT", "vented safety helmet", "helmet", "safety", ("colour", "white", ("yellow", "blue", "red")),
       ("chin strap", "ratchet harness"), "wearable perishable"),
    _p("SG-GLS-AF", "anti-fog safety glasses", "safety glasses", "safety", ("lens", "clear", ("tinted", "yellow")),
       tags="wearable", plural=True),
    _p("SG-HV-C2", "class 2 hi-vis vest", "hi-vis vest", "safety", ("size", "XL", ("L", "XXL")), tags="wearable"),
    _p("SG-FAK-20", "20-person first aid kit", "first aid kit", "safety",
       ("size", "20-person", ("10-person", "50-person")), ("burn gel", "eyewash pods", "scissors", "plasters"),
       "perishable"),
    _p("SG-RSP-FFP3", "FFP3 respirator masks (box of 10)", "masks", "safety", ("size", "medium", ("small", "large")),
       tags="bulk wearable perishable", plural=True),
    # lab consumables
    _p("LB-PT-200", "200 ul filtered pipette tips (rack of 96)", "pipette tips", "lab",
       ("volume", "200 ul", ("10 ul", "1000 ul")), tags="bulk perishable", plural=True),
    _p("LB-BUF-PBS", "PBS buffer solution 500 ml", "buffer", "lab", ("pH", "7.4", ("7.2", "8.0")), tags="perishable"),
    _p("LB-AGR-500", "bacteriological agar powder 500 g", "agar", "lab", ("grade", "bacteriological", ("molecular",)),
       tags="perishable"),
    _p("LB-WIP-70", "70% ethanol wipes (tub of 200)", "wipes", "lab", ("concentration", "70%", ("99%",)),
       tags="bulk perishable", plural=True),
    _p("LB-CT-15", "15 ml sterile centrifuge tubes (pack of 500)", "centrifuge tubes", "lab",
       ("volume", "15 ml", ("50 ml",)), tags="bulk perishable", plural=True),
    _p("LB-PCR-MM", "PCR master mix kit, 100 reactions", "master mix", "lab",
       ("size", "100 reactions", ("500 reactions",)), ("primer vial", "loading dye"), "perishable"),
    _p("LB-CAL-PH", "pH calibration buffer set 4/7/10", "calibration buffers", "lab",
       ("set", "pH 4/7/10", ("pH 4/7",)), ("pH 10 bottle",), "perishable", plural=True),
    # electronics
    _p("EC-MON-27", "27\" IPS monitor", "monitor", "electronics", ("resolution", "1440p", ("1080p", "4K")),
       ("stand", "HDMI cable", "power cable"), "powered screen"),
    _p("EC-DOCK-C", "USB-C docking station", "dock", "electronics", ("interface", "USB-C", ("Thunderbolt 4",)),
       ("power adapter", "USB-C cable"), "powered"),
    _p("EC-SCN-BT", "wireless barcode scanner", "scanner", "electronics",
       ("connectivity", "Bluetooth", ("2.4 GHz dongle",)), ("charging cradle", "USB receiver"), "powered"),
    _p("EC-UPS-1500", "1500VA UPS", "UPS", "electronics", ("voltage", "230V", ("120V",)),
       ("power cord", "USB cable"), "powered"),
    _p("EC-LBL-4", "thermal label printer", "label printer", "electronics", ("label width", "4 inch", ("2 inch",)),
       ("power supply", "sample label roll"), "powered"),
    _p("EC-TAB-10", "rugged 10\" tablet", "tablet", "electronics", ("storage", "64 GB", ("128 GB",)),
       ("charger", "stylus"), "powered screen"),
    # spare parts
    _p("SP-BRG-6204", "6204-2RS deep groove ball bearing", "bearing", "spare_parts",
       ("bore", "20 mm", ("17 mm", "25 mm"))),
    _p("SP-VB-A42", "A42 V-belt", "V-belt", "spare_parts", ("length", "A42", ("A40", "A44"))),
    _p("SP-FLT-10", "10 micron hydraulic return filter element", "filter element", "spare_parts",
       ("rating", "10 micron", ("25 micron",))),
    _p("SP-SEAL-25", "25 mm pump mechanical seal kit", "seal kit", "spare_parts",
       ("shaft", "25 mm", ("20 mm", "30 mm")), ("O-rings", "spring", "seat")),
    _p("SP-MTR-075", "0.75 kW three-phase motor", "motor", "spare_parts", ("frame", "80", ("71", "90")),
       tags="powered"),
    _p("SP-SOL-12", "1/2\" solenoid valve, 24V DC coil", "solenoid valve", "spare_parts",
       ("coil", "24V DC", ("230V AC", "12V DC")), tags="powered threaded"),
    # furniture
    _p("FN-CHR-ERG", "ergonomic office chair", "chair", "furniture", ("colour", "black", ("grey", "blue")),
       ("gas lift", "armrests", "castors", "fitting screws"), "assembly"),
    _p("FN-DSK-1600", "1600 mm sit-stand desk frame", "desk", "furniture",
       ("width", "1600 mm", ("1400 mm", "1800 mm")), ("control panel", "crossbar", "screw pack"), "assembly powered"),
    _p("FN-WB-18", "1.8 m steel workbench", "workbench", "furniture", ("height", "900 mm", ("850 mm", "950 mm")),
       ("bolt pack", "undershelf", "levelling feet"), "assembly"),
    _p("FN-SHV-5T", "5-tier boltless shelving unit", "shelving unit", "furniture",
       ("depth", "400 mm", ("500 mm", "600 mm")), ("shelf clips", "top shelf board"), "assembly"),
    _p("FN-LKR-4D", "4-door steel locker", "locker", "furniture", ("colour", "grey", ("blue", "green")),
       ("keys", "shelves"), "assembly"),
    # chemicals, janitorial, packaging
    _p("CH-SIL-310", "clear silicone sealant 310 ml", "sealant", "chemicals", ("colour", "clear", ("white", "grey")),
       tags="perishable"),
    _p("CH-EPX-50", "two-part epoxy adhesive 50 ml", "epoxy", "chemicals", ("cure time", "5 min", ("30 min",)),
       tags="perishable"),
    _p("CL-DEG-5L", "industrial degreaser 5 L", "degreaser", "chemicals", ("size", "5 L", ("1 L", "20 L")),
       tags="perishable"),
    _p("BT-AA-40", "AA alkaline batteries (pack of 40)", "batteries", "chemicals", ("size", "AA", ("AAA", "C")),
       tags="bulk perishable", plural=True),
    _p("PK-TAPE-48", "48 mm brown packing tape (6 rolls)", "tape", "packaging",
       ("width", "48 mm", ("25 mm", "75 mm")), tags="bulk"),
)

CATEGORY_NAMES: Final = MappingProxyType({
    "power_tools": "power tool", "fasteners": "fastener", "electrical": "electrical", "safety": "PPE",
    "lab": "lab consumables", "electronics": "IT hardware", "spare_parts": "spare parts", "furniture": "furniture",
    "chemicals": "chemicals", "packaging": "packaging",
})

# What an incompatible item fails to fit, per category, so the complaint names something plausible.
EQUIPMENT: Final = MappingProxyType({
    "power_tools": ("our existing battery platform", "the chargers we already have", "our 110V site supply",
                    "the dust extraction on site"),
    "fasteners": ("the existing brackets", "the tapped holes on our machine", "our imported frames",
                  "the fixings we standardised on"),
    "electrical": ("our distribution board", "the existing control panel", "our site supply", "the ceiling grid"),
    "safety": ("the ear defenders we already use", "our visor attachments", "the face-fit tested masks",
               "our uniform spec"),
    "lab": ("our pipettes", "the centrifuge rotor", "our plate reader", "the analyser we run"),
    "electronics": ("our laptops", "the warehouse Wi-Fi", "our ERP terminals", "the existing monitor arms"),
    "spare_parts": ("our pump", "the compressor", "the conveyor on line 2", "the gearbox"),
    "furniture": ("our desk system", "the existing workstations", "the office partitions", "our floor layout"),
    "chemicals": ("our dispenser", "the applicator gun we use", "the spray unit", "our battery holders"),
    "packaging": ("our tape guns", "the carton sealer", "our packing bench dispensers", "the auto-taper"),
})

_BY_TAG: dict[frozenset[str], tuple[Product, ...]] = {}


def products_with(tags: frozenset[str]) -> tuple[Product, ...]:
    """Products carrying every tag in ``tags`` (all products for an empty set), in catalogue order."""
    found = _BY_TAG.get(tags)
    if found is None:
        found = tuple(p for p in PRODUCTS if tags <= p.tags)
        if not found:
            raise ValueError(f"no product has all of the tags {sorted(tags)}")
        _BY_TAG[tags] = found
    return found
