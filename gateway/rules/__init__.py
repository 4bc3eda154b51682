"""Pure rules: decisions with no I/O, no clock reads and no logging (numbers, texts, timing, routing, limits, codes)."""
