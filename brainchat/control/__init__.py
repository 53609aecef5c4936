"""The control socket: commands to a running brain from any terminal."""
