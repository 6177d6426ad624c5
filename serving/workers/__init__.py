"""Background workers that run beside the API: the webhook delivery worker."""
