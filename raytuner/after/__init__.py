"""after."""
