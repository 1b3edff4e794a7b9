"""torch -> ONNX: the step graph with explicit state, its metadata, int8 quantization and parity checks."""
