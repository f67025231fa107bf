"""dpqml: differentially private training of hybrid quantum-classical models."""

__version__ = "0.1.0"
