"""The message classes of beebeebrain.v1, generated from proto/beebeebrain/v1/*.proto (*_pb2.py, *_pb2.pyi)."""
