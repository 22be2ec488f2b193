"""orderflow: order management where every order is a durable Temporal workflow."""
