"""Writing files safely: atomic writes (rename on success) and streamed output tables."""
