"""cgdml - Python tools around the cgdml library and program (docs/tutorial.md)."""
