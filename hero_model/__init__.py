"""HERO: human reaction generation from egocentric video -- pure PyTorch / numpy, no ROS."""
__version__ = "0.1.0"
