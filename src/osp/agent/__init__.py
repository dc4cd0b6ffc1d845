"""The in-container agent process."""
