"""Background workers that run beside the API: webhook delivery, audit checkpoints."""
