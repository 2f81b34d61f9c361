"""HERO-ROS: the ROS 2 side of the project. Thin nodes that delegate all modelling to hero_model."""
