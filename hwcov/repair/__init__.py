"""repair: the template repair loop."""
