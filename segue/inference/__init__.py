"""The inference room: the ONNX engine, the one sampling loop (the decoding grammar and session memory plug in
there), beam search and offline generate. Imports the codec room; never training/, export/ or daemon/."""
