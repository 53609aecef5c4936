"""brainchat: a living spiking brain you talk to from a terminal.

Scripting API::

    from brainchat import Brain, load_config

    config = load_config(overrides={"brain.neurons": 20_000, "brain.seed": 1})
    with Brain(config) as brain:
        for vitals in brain.run(2_000):
            print(vitals.step, vitals.fraction_mean, vitals.drive)
"""

from brainchat.config import Config, load_config
from brainchat.model.brain import Brain, Stimulus
from brainchat.model.vitals import Vitals

__version__ = "0.1.0"

__all__ = ["Brain", "Config", "Stimulus", "Vitals", "load_config", "__version__"]
