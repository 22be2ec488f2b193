"""Configuration every process reads first: settings from the environment, the rules file."""
