"""Two nodes behind a real nginx, on a real Redis, with real clients (the scale-out how-to)."""
