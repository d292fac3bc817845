"""Huibo's Asterisk side: the production dialplan and AMI configuration, and a PBX simulator for tests and demos."""
