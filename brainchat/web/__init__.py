"""The live page of the running brain (``brainchat web``); needs the ``web`` extra."""
