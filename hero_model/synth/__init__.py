"""ViMo-Synth: procedural reactions and actor motions, egocentric clip rendering and the synthetic dataset writer."""
