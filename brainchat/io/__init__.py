"""Input and output: text to stimulus schedules, output spikes to text."""
