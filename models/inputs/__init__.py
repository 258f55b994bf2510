"""The one feature contract: raw example columns -> model inputs (spec, TF transform, ATDS,
Murmur)."""
