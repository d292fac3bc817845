"""Tests of callback.ami, against a fake AMI server speaking raw bytes (fake_ami.py)."""
