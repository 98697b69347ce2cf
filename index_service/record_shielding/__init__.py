"""The shielders' feature: the pages and operations that shield and unshield a record, audited.

What a viewer may see of a shielded record, and the rules of shielding, are decided apart, on plain
data, by the top-level `shielding` package (no Flask, no ORM); this package applies them.
"""
