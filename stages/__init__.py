"""The pipeline's code: one module per DVC stage plus the shared modules they use."""
