"""Post-training compression of trained ranking models (paper §3.13), one concept per module:

- `rowwise`: row-wise middle-max and min-max quantization of a table (pure numpy)
- `packing`: the served byte layout of the codes (int8; two 4-bit codes a byte)
- `schemes`: `QuantizationScheme` and the named `SCHEMES`
- `tables`: every embedding table of a layer (plain, QR, unlimited vocabulary) and its
  quantized twin
- `feed`: a trained feed model → its quantized copy, the per-table report, the saved artifact

The quantized layers themselves live in `models.layers` (`QuantizedEmbedding`,
`QuantizedQREmbedding`, `QuantizedUnlimitedVocabEmbedding`).
"""
