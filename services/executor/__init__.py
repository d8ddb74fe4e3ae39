"""The executor service: stateful sandboxed sessions over gRPC."""
